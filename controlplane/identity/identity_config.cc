// Identity settings: validation and strict YAML reading.
#include "controlplane/identity/identity_config.h"

#include <set>

namespace tollgate::controlplane::identity {

bool isKnownRole(const std::string& role) {
  for (const char* r : kRoles) {
    if (role == r) return true;
  }
  return false;
}

absl::Status validateIdentityConfig(const IdentityConfig& config) {
  if (config.leeway.count() < 0 || config.leeway.count() > 600) {
    return absl::InvalidArgumentError("identity: leeway must be within 0..600 seconds");
  }
  std::set<std::string> seen;
  for (const IssuerConfig& is : config.issuers) {
    std::string where = "identity: issuer \"" + is.issuer + "\"";
    if (is.issuer.empty()) return absl::InvalidArgumentError("identity: issuer with empty name");
    if (!seen.insert(is.issuer).second) return absl::InvalidArgumentError(where + " listed twice");
    if (is.audience.empty()) return absl::InvalidArgumentError(where + ": empty audience");
    if (is.discovery == !is.jwks_file.empty()) {
      return absl::InvalidArgumentError(where + ": set exactly one of jwksFile and discovery");
    }
    if (is.discovery && is.issuer.rfind("https://", 0) != 0) {
      return absl::InvalidArgumentError(where + ": discovery needs an https:// issuer");
    }
    if (is.discovery && is.ca_file.empty()) {
      return absl::InvalidArgumentError(where + ": discovery needs caFile");
    }
    if (is.refresh_interval.count() < 1) {
      return absl::InvalidArgumentError(where + ": refreshInterval must be positive");
    }
    if (is.kind == PrincipalKind::kHuman && is.groups_claim.empty()) {
      return absl::InvalidArgumentError(where + ": empty groupsClaim");
    }
  }
  for (const auto& [group, roles] : config.group_roles) {
    for (const std::string& role : roles) {
      if (!isKnownRole(role)) {
        return absl::InvalidArgumentError("identity: group \"" + group +
                                          "\" maps to unknown role \"" + role +
                                          "\" (known: admin, policy-editor, approver, auditor)");
      }
    }
  }
  return absl::OkStatus();
}

void readIdentityConfig(YamlMap& parent, IdentityConfig& config) {
  YAML::Node node = parent.get("identity");
  if (!node) return;
  YamlErrors& errors = parent.errors();
  YamlMap m(node, errors, "identity");
  if (!m.ok()) return;
  if (auto v = m.durationSeconds("leeway")) config.leeway = std::chrono::seconds(*v);
  if (auto v = m.str("bootstrapTokenFile")) config.bootstrap_token_file = *v;
  if (YAML::Node g = m.get("groupRoles")) {
    if (!g.IsMap()) {
      errors.add(g, "identity.groupRoles: expected a mapping of group -> [roles]");
    } else {
      YamlMap groups(g, errors, "identity.groupRoles");
      for (const auto& kv : g) {
        std::string group = kv.first.as<std::string>("");
        for (const std::string& role : groups.strList(group)) {
          if (!isKnownRole(role)) {
            errors.add(kv.second, "identity.groupRoles." + group + ": unknown role \"" + role +
                                      "\" (known: admin, policy-editor, approver, auditor)");
          }
          config.group_roles[group].push_back(role);
        }
      }
      groups.finish();
    }
  }
  if (YAML::Node list = m.get("issuers")) {
    if (!list.IsSequence()) errors.add(list, "identity.issuers: expected a list");
    for (size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
      YAML::Node item = list[i];
      YamlMap im(item, errors, "identity.issuers[" + std::to_string(i) + "]");
      if (!im.ok()) continue;
      IssuerConfig is;
      if (auto v = im.str("issuer", true)) is.issuer = *v;
      if (auto v = im.oneOf("kind", {"workload", "human"}, true)) {
        is.kind = *v == "human" ? PrincipalKind::kHuman : PrincipalKind::kWorkload;
      }
      if (auto v = im.str("audience")) is.audience = *v;
      if (auto v = im.str("jwksFile")) is.jwks_file = *v;
      if (auto v = im.boolean("discovery")) is.discovery = *v;
      if (auto v = im.str("caFile")) is.ca_file = *v;
      if (auto v = im.durationSeconds("refreshInterval"))
        is.refresh_interval = std::chrono::seconds(*v);
      if (auto v = im.str("groupsClaim")) is.groups_claim = *v;
      im.finish();
      config.issuers.push_back(std::move(is));
    }
  }
  m.finish();
}

}  // namespace tollgate::controlplane::identity
