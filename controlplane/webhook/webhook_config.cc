// Webhook settings: validation and strict YAML reading.
#include "controlplane/webhook/webhook_config.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace tollgate::controlplane::webhook {
namespace {

bool parsePort(const std::string& text, int* out) {
  if (text.empty() || text.size() > 5 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  int v = std::atoi(text.c_str());
  if (v < 1 || v > 65535) return false;
  *out = v;
  return true;
}

absl::Status checkList(const std::vector<std::string>& items, bool (*valid)(const std::string&),
                       const char* what) {
  for (const std::string& item : items) {
    if (!valid(item)) {
      return absl::InvalidArgumentError(std::string("webhook: ") + what + ": invalid entry \"" +
                                        item + "\"");
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool isValidPortSpec(const std::string& text) {
  size_t sep = text.find_first_of("-:");
  int low = 0;
  int high = 0;
  if (sep == std::string::npos) return parsePort(text, &low);
  return parsePort(text.substr(0, sep), &low) && parsePort(text.substr(sep + 1), &high) &&
         low <= high;
}

bool isValidCidr(const std::string& text) {
  size_t slash = text.find('/');
  std::string addr = text.substr(0, slash);
  unsigned char buf[16];
  int max_prefix = 0;
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    max_prefix = 128;
  } else {
    return false;
  }
  if (slash == std::string::npos) return true;
  std::string prefix = text.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 3 ||
      prefix.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  return std::atoi(prefix.c_str()) <= max_prefix;
}

absl::Status validateWebhookConfig(const WebhookConfig& config) {
  auto bad = [](const std::string& m) { return absl::InvalidArgumentError("webhook: " + m); };
  if (config.port < 0 || config.port > 65535) return bad("port must be within 0..65535");
  if (config.proxy_port < 1 || config.proxy_port > 65535) {
    return bad("proxyPort must be within 1..65535");
  }
  if (config.admin_port < 1 || config.admin_port > 65535) {
    return bad("adminPort must be within 1..65535");
  }
  if (config.proxy_port == config.admin_port) return bad("proxyPort and adminPort must differ");
  if (config.sidecar_uid < 1 || config.sidecar_uid > 2147483647) {
    return bad("sidecarUid must be within 1..2147483647 (the sidecar never runs as root)");
  }
  if (config.token_expiry_seconds < 600 || config.token_expiry_seconds > 86400) {
    return bad("tokenExpiry must be within 10m..24h (Kubernetes rejects shorter tokens)");
  }
  if (config.image_pull_policy != "Always" && config.image_pull_policy != "IfNotPresent" &&
      config.image_pull_policy != "Never") {
    return bad("imagePullPolicy must be Always, IfNotPresent or Never");
  }
  if (config.sidecar_image.empty()) return bad("image must not be empty");
  if (config.control_plane_address.empty()) return bad("controlPlaneAddress must not be empty");
  if (config.control_plane_namespace.empty()) return bad("namespace must not be empty");
  if (config.token_audience.empty()) return bad("tokenAudience must not be empty");
  if (config.max_body_bytes < 1024) return bad("maxBodyBytes must be at least 1024");
  if (auto st = checkList(config.exclude_ports, isValidPortSpec, "excludePorts"); !st.ok()) {
    return st;
  }
  if (auto st = checkList(config.include_ports, isValidPortSpec, "includePorts"); !st.ok()) {
    return st;
  }
  if (auto st = checkList(config.exclude_cidrs, isValidCidr, "excludeCidrs"); !st.ok()) return st;
  if (auto st = checkList(config.include_cidrs, isValidCidr, "includeCidrs"); !st.ok()) return st;
  if (config.enabled && (config.tls_cert.empty() || config.tls_key.empty())) {
    return bad("enabled needs tls.cert and tls.key (the API server only calls HTTPS webhooks)");
  }
  return absl::OkStatus();
}

void readWebhookConfig(YamlMap& parent, WebhookConfig& config) {
  YAML::Node node = parent.get("webhook");
  if (!node) return;
  YamlErrors& errors = parent.errors();
  YamlMap m(node, errors, "webhook");
  if (!m.ok()) return;
  if (auto v = m.boolean("enabled")) config.enabled = *v;
  if (auto v = m.str("address")) config.address = *v;
  if (auto v = m.integer("port", 0, 65535)) config.port = static_cast<int>(*v);
  if (YAML::Node t = m.get("tls")) {
    YamlMap tls(t, errors, "webhook.tls");
    if (tls.ok()) {
      if (auto v = tls.str("cert", true)) config.tls_cert = *v;
      if (auto v = tls.str("key", true)) config.tls_key = *v;
      tls.finish();
    }
  }
  if (auto v = m.str("image")) config.sidecar_image = *v;
  if (auto v = m.oneOf("imagePullPolicy", {"Always", "IfNotPresent", "Never"})) {
    config.image_pull_policy = *v;
  }
  if (auto v = m.str("controlPlaneAddress")) config.control_plane_address = *v;
  if (auto v = m.str("controlPlaneCaFile")) config.control_plane_ca_file = *v;
  if (auto v = m.str("namespace")) config.control_plane_namespace = *v;
  if (auto v = m.oneOf("mode", {"native", "classic"})) {
    config.mode = *v == "classic" ? InjectionMode::kClassic : InjectionMode::kNative;
  }
  if (YAML::Node r = m.get("resources")) {
    YamlMap res(r, errors, "webhook.resources");
    if (res.ok()) {
      auto readPair = [&](const char* key, std::string& cpu, std::string& memory) {
        YAML::Node n = res.get(key);
        if (!n) return;
        YamlMap q(n, errors, std::string("webhook.resources.") + key);
        if (!q.ok()) return;
        if (auto v = q.str("cpu")) cpu = *v;
        if (auto v = q.str("memory")) memory = *v;
        q.finish();
      };
      readPair("requests", config.resources.cpu_request, config.resources.memory_request);
      readPair("limits", config.resources.cpu_limit, config.resources.memory_limit);
      res.finish();
    }
  }
  if (auto v = m.integer("sidecarUid", 1, 2147483647)) config.sidecar_uid = *v;
  if (auto v = m.integer("proxyPort", 1, 65535)) config.proxy_port = static_cast<int>(*v);
  if (auto v = m.integer("adminPort", 1, 65535)) config.admin_port = static_cast<int>(*v);
  auto readList = [&](const char* key, std::vector<std::string>& out,
                      bool (*valid)(const std::string&), const char* kind) {
    if (!m.has(key)) return;
    out = m.strList(key);
    for (const std::string& item : out) {
      if (!valid(item)) {
        errors.add(m.node()[key],
                   std::string("webhook.") + key + ": \"" + item + "\" is not " + kind);
      }
    }
  };
  readList("excludePorts", config.exclude_ports, isValidPortSpec, "a port or port range");
  readList("includePorts", config.include_ports, isValidPortSpec, "a port or port range");
  readList("excludeCidrs", config.exclude_cidrs, isValidCidr, "an address or CIDR");
  readList("includeCidrs", config.include_cidrs, isValidCidr, "an address or CIDR");
  if (auto v = m.str("tokenAudience")) config.token_audience = *v;
  if (auto v = m.durationSeconds("tokenExpiry")) {
    if (*v < 600 || *v > 86400) {
      errors.add(m.node()["tokenExpiry"], "webhook.tokenExpiry: must be within 10m..24h");
    }
    config.token_expiry_seconds = *v;
  }
  if (m.has("neverInject")) config.never_inject_namespaces = m.strList("neverInject");
  if (m.has("extraArgs")) config.extra_args = m.strList("extraArgs");
  if (auto v = m.integer("maxBodyBytes", 1024, 64 * 1024 * 1024)) {
    config.max_body_bytes = static_cast<size_t>(*v);
  }
  m.finish();
}

}  // namespace tollgate::controlplane::webhook
