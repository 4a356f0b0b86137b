// Settings for control-plane authentication: trusted issuers, group->role table, bootstrap token.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/yaml_reader.h"

namespace tollgate::controlplane::identity {

// The Tollgate roles a human can hold (see proto Identity.roles).
inline constexpr const char* kRoles[] = {"admin", "policy-editor", "approver", "auditor"};
bool isKnownRole(const std::string& role);

enum class PrincipalKind { kWorkload, kHuman };

// One trusted token issuer.
struct IssuerConfig {
  // Must equal the token's `iss` exactly (no normalisation, no trailing-slash games).
  std::string issuer;
  // kWorkload: Kubernetes bound ServiceAccount tokens (pod-bound, `kubernetes.io` claim).
  // kHuman: OIDC ID tokens whose groups claim maps to roles.
  PrincipalKind kind = PrincipalKind::kWorkload;
  // Must be one of the token's `aud` values. Workload tokens are projected with "tollgate".
  std::string audience = "tollgate";
  // Exactly one key source: a JWKS file (re-read when it changes, for key rotation) ...
  std::string jwks_file;
  // ... or OIDC discovery: GET <issuer>/.well-known/openid-configuration, then its `jwks_uri`,
  // both over HTTPS verified against `ca_file` (required with discovery).
  bool discovery = false;
  std::string ca_file;
  // How often discovered keys are fetched again even when every kid is known.
  std::chrono::seconds refresh_interval{3600};
  // Human issuers: the claim holding the groups (array of strings).
  std::string groups_claim = "groups";
};

// YAML (under the control-plane config's `identity:` key):
//   identity:
//     leeway: 60s
//     bootstrapTokenFile: /etc/tollgate/bootstrap-token
//     groupRoles: {platform-admins: [admin], dba: [approver, policy-editor]}
//     issuers:
//       - {issuer: "https://kubernetes.default.svc", kind: workload, audience: tollgate,
//          jwksFile: /etc/tollgate/k8s-jwks.json}
//       - {issuer: "https://login.example.com", kind: human, audience: tollgate-cli,
//          discovery: true, caFile: /etc/ssl/certs/ca-certificates.crt, groupsClaim: groups,
//          refreshInterval: 1h}
struct IdentityConfig {
  std::vector<IssuerConfig> issuers;
  // IdP group name -> Tollgate roles, applied to every human issuer. Groups not listed grant
  // nothing.
  std::map<std::string, std::vector<std::string>> group_roles;
  // Clock skew tolerated on exp / nbf / iat.
  std::chrono::seconds leeway{60};
  // File holding the bootstrap admin secret (>= 32 characters); empty disables it.
  std::string bootstrap_token_file;
};

// Checks what the types cannot: issuers non-empty and unique, each with exactly one key source,
// discovery issuers https:// with a CA file, audiences non-empty, every mapped role known,
// leeway in [0, 600] s. INVALID_ARGUMENT naming the first problem.
absl::Status validateIdentityConfig(const IdentityConfig& config);

// Reads the optional `identity` key of `parent` into `config` (strict: unknown keys and bad
// values are reported to parent.errors()). Leaves `config` unchanged when the key is absent.
void readIdentityConfig(YamlMap& parent, IdentityConfig& config);

}  // namespace tollgate::controlplane::identity
