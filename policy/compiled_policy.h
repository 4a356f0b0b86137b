// The compiled, immutable form of a policy: lookups by name and destination, compiled guardrail
// patterns, a masker per resource. Built once, then read by many threads without locks.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "policy/destination_claims.h"
#include "policy/mask/masker.h"
#include "policy/model.h"
#include "policy/subject.h"

namespace re2 {
class RE2;
}

namespace tollgate::policy {

// A guardrail with its RE2 pattern compiled (nullptr when it has none).
struct CompiledGuardrail {
  Guardrail spec;
  std::shared_ptr<const re2::RE2> pattern;
  std::string rule_id;  // "guardrail:NAME", as verdicts report it
};

struct CompileOptions {
  // When false, a hash key that cannot be read (file missing, variable unset) is a warning and
  // an ephemeral random key is used instead: right for `policy check` and `policy test` on a
  // laptop, wrong for a daemon. When true it is an error.
  bool require_hash_key = true;
  // When false, the key is not read at all and hash masks use an ephemeral random key: for a
  // process that checks policies others run (the control plane). Reading the file or variable
  // a policy names there would hash with a secret of the control plane's own, and hand the
  // result to whoever submitted the policy.
  bool read_hash_key = true;
};

// The destinations a resource's `match` names: match.hosts / match.ports, or the upstream's own
// host / port when the resource names none. (Its upstream is claimed too: DestinationClaims.)
std::vector<std::string> effectiveHosts(const Resource& r);
std::vector<int> effectivePorts(const Resource& r);

class CompiledPolicy;
using CompiledPolicyPtr = std::shared_ptr<const CompiledPolicy>;

class CompiledPolicy {
 public:
  // Compiles a validated document. Errors (a bad pattern the loader did not catch, an
  // unreadable hash key, a destination two resources claim as far as the text tells: see
  // DestinationClaims::literalAddresses) come back as INVALID_ARGUMENT, one
  // "file:line:col: message" per line. `warnings` (optional) receives non-fatal findings (an
  // upstream two resources share).
  static absl::StatusOr<CompiledPolicyPtr> compile(PolicyDocument doc,
                                                   const CompileOptions& options = {},
                                                   std::vector<std::string>* warnings = nullptr);

  const PolicyDocument& document() const { return doc_; }
  const Defaults& defaults() const { return doc_.defaults; }

  // The resource with this name, or nullptr. Pointers live as long as this object.
  const Resource* resource(std::string_view name) const;
  // The resource that claims a destination written as in the policy (an IP literal in any
  // form, or a name, case-insensitive), else the first whose `*.suffix` match pattern covers
  // the name; nullptr when none does or two resources share it as their upstream (then
  // defaults().unknown_destination applies). Names are not resolved: the sidecar maps
  // redirected connections with the claims of its own lookups.
  const Resource* resourceFor(std::string_view host, int port) const;
  // The first access rule that names `resource` (or "*") and has a subject matching `id`, or
  // nullptr when none does (no access).
  const AccessRule* matchAccess(const Identity& id, std::string_view resource) const;

  const std::vector<CompiledGuardrail>& guardrails() const { return guardrails_; }

  // The masker for responses of a resource (its rules plus the "*" rules); nullptr for an
  // unknown resource. Never nullptr for a known one (it may have no rules).
  MaskerPtr masker(std::string_view resource) const;
  // A masker with every masking rule of the policy, for text not tied to one resource.
  const MaskerPtr& allRulesMasker() const { return all_masker_; }

  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

 private:
  CompiledPolicy() = default;

  PolicyDocument doc_;
  absl::flat_hash_map<std::string, size_t> resource_index_;
  DestinationClaims claims_;  // by the policy's text (DestinationClaims::literalAddresses)
  std::vector<CompiledGuardrail> guardrails_;
  absl::flat_hash_map<std::string, MaskerPtr> maskers_;
  MaskerPtr all_masker_;
};

// True when a list of resource names (or "*") covers `resource`.
bool coversResource(const std::vector<std::string>& names, std::string_view resource);

// Why `next` may not replace `current` as it stands: it has no masking section where the
// current one masks card data (a file cut short, a half-copied ConfigMap, a paste that lost its
// end would turn masking off everywhere). Empty when it may; `masking: {rules: []}` says "no
// masking" on purpose. Both the standalone sidecar's reload and the control plane's apply ask.
std::string maskingDropped(const CompiledPolicy* current, const CompiledPolicy& next);

}  // namespace tollgate::policy
