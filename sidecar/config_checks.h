// Mistakes of the sidecar's configuration against a policy, found when the policy loads rather
// than at the first connection: listeners the policy cannot serve, files it names that cannot
// be read.
#pragma once

#include <string>
#include <vector>

#include "policy/compiled_policy.h"
#include "sidecar/config.h"

namespace tollgate::sidecar {

// What checkPolicyFit() found, one line per finding naming the listener or resource.
struct PolicyFit {
  // Explicit listeners naming a resource the policy does not have: every connection to them is
  // refused. A standalone sidecar does not start when its first policy has one.
  std::vector<std::string> errors;
  // Listeners of a resource whose protocol the sidecar does not serve (refused too); files a
  // resource names that cannot be read now (they may be mounted later, so not errors); and,
  // standalone, resources whose credentials only a control plane can give.
  std::vector<std::string> warnings;
};

// The protocols the sidecar serves today: postgres and tcp (a raw relay).
bool servesProtocol(policy::Protocol protocol);

// Checks `listeners` and the files of `policy` (upstream.ca of every resource with TLS, and in
// `standalone` mode credentials.file, which only a standalone sidecar reads). Reads the files'
// permissions only, never their content. Thread-safe.
PolicyFit checkPolicyFit(const policy::CompiledPolicy& policy,
                         const std::vector<ListenerConfig>& listeners, bool standalone);

}  // namespace tollgate::sidecar
