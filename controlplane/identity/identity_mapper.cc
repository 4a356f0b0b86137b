// Claims to Identity, with the Kubernetes cross-checks between `sub` and `kubernetes.io`.
#include "controlplane/identity/identity_mapper.h"

#include <set>

#include "absl/status/status.h"
#include "controlplane/identity/jwt.h"

namespace tollgate::controlplane::identity {
namespace {

absl::Status bad(const std::string& what) { return absl::UnauthenticatedError("token: " + what); }

// claims[a][b]... as a non-empty string, or empty.
std::string path(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  const nlohmann::json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object()) return {};
    auto it = cur->find(k);
    if (it == cur->end()) return {};
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<v1::Identity> workloadIdentity(const std::string& issuer,
                                              const nlohmann::json& claims) {
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  std::string sub = path(claims, {"sub"});
  if (sub.rfind(kPrefix, 0) != 0) {
    return bad("\"sub\" is not system:serviceaccount:<namespace>:<name>");
  }
  std::string rest = sub.substr(kPrefix.size());
  size_t colon = rest.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find(':', colon + 1) != std::string::npos) {
    return bad("\"sub\" is not system:serviceaccount:<namespace>:<name>");
  }
  std::string ns = rest.substr(0, colon), sa = rest.substr(colon + 1);
  auto k8s = claims.find("kubernetes.io");
  if (k8s == claims.end() || !k8s->is_object()) return bad("no \"kubernetes.io\" claim");
  if (path(*k8s, {"namespace"}) != ns) {
    return bad("kubernetes.io namespace does not match the subject's namespace");
  }
  if (path(*k8s, {"serviceaccount", "name"}) != sa) {
    return bad("kubernetes.io serviceaccount.name does not match the subject");
  }
  std::string pod_name = path(*k8s, {"pod", "name"}), pod_uid = path(*k8s, {"pod", "uid"});
  if (pod_name.empty() || pod_uid.empty()) {
    return bad("token is not bound to a pod (kubernetes.io pod name/uid missing)");
  }
  v1::Identity id;
  id.set_kind(v1::Identity::KIND_WORKLOAD);
  id.set_issuer(issuer);
  id.set_subject(sub);
  id.set_namespace_(ns);
  id.set_service_account(sa);
  id.set_pod_name(pod_name);
  id.set_pod_uid(pod_uid);
  id.set_principal_id(issuer + "|" + sub + "|" + pod_uid);
  return id;
}

absl::StatusOr<v1::Identity> humanIdentity(
    const std::string& issuer, const nlohmann::json& claims, const std::string& groups_claim,
    const std::map<std::string, std::vector<std::string>>& group_roles) {
  std::string sub = path(claims, {"sub"});
  if (sub.empty()) return bad("no \"sub\" claim");
  std::vector<std::string> groups;
  if (auto g = claims.find(groups_claim); g != claims.end()) {
    if (g->is_string()) {
      groups.push_back(g->get<std::string>());
    } else if (g->is_array()) {
      for (const auto& item : *g) {
        if (!item.is_string()) {
          return bad("groups claim \"" + sanitizeForMessage(groups_claim) +
                     "\" holds a non-string");
        }
        groups.push_back(item.get<std::string>());
      }
    } else {
      return bad("groups claim \"" + sanitizeForMessage(groups_claim) +
                 "\" is neither a string nor an array");
    }
  }
  std::set<std::string> roles;
  for (const std::string& g : groups) {
    if (auto it = group_roles.find(g); it != group_roles.end()) {
      roles.insert(it->second.begin(), it->second.end());
    }
  }
  v1::Identity id;
  id.set_kind(v1::Identity::KIND_HUMAN);
  id.set_issuer(issuer);
  id.set_subject(sub);
  std::string display = path(claims, {"email"});
  if (display.empty()) display = path(claims, {"preferred_username"});
  id.set_display_name(display.empty() ? sub : display);
  for (const std::string& g : groups) id.add_groups(g);
  for (const std::string& r : roles) id.add_roles(r);
  id.set_principal_id(issuer + "|" + sub);
  return id;
}

v1::Identity bootstrapIdentity() {
  v1::Identity id;
  id.set_kind(v1::Identity::KIND_BOOTSTRAP);
  id.set_issuer("tollgate:bootstrap");
  id.set_subject("bootstrap-admin");
  id.set_display_name("bootstrap admin");
  id.add_roles("admin");
  id.set_principal_id("tollgate:bootstrap|bootstrap-admin");
  return id;
}

}  // namespace tollgate::controlplane::identity
