// Verified token claims -> v1::Identity for workloads (Kubernetes SA tokens) and humans (OIDC).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "tollgate/v1/identity.pb.h"

namespace tollgate::controlplane::identity {

// Maps a verified Kubernetes bound ServiceAccount token. Requires `sub` =
// "system:serviceaccount:<ns>:<name>" and a `kubernetes.io` object whose `namespace` equals
// <ns>, `serviceaccount.name` equals <name>, and whose `pod` has a non-empty `name` and `uid`
// (tokens not bound to a pod are refused: a principal is one pod run). Result: kind WORKLOAD,
// issuer, subject, namespace, service_account, pod_name, pod_uid, principal_id =
// issuer "|" subject "|" pod_uid; no roles. UNAUTHENTICATED "token: ..." naming the claim that
// is missing or inconsistent.
absl::StatusOr<v1::Identity> workloadIdentity(const std::string& issuer,
                                              const nlohmann::json& claims);

// Maps a verified OIDC ID token. Requires a non-empty string `sub`. `groups_claim` may be
// absent (no groups), an array of strings, or one string; anything else is refused. roles =
// the sorted, de-duplicated union of group_roles[g] over the token's groups. display_name =
// `email`, else `preferred_username`, else the subject. principal_id = issuer "|" subject.
absl::StatusOr<v1::Identity> humanIdentity(
    const std::string& issuer, const nlohmann::json& claims, const std::string& groups_claim,
    const std::map<std::string, std::vector<std::string>>& group_roles);

// The bootstrap admin: kind BOOTSTRAP, issuer "tollgate:bootstrap", subject "bootstrap-admin",
// roles [admin], principal_id "tollgate:bootstrap|bootstrap-admin".
v1::Identity bootstrapIdentity();

}  // namespace tollgate::controlplane::identity
