// Control-plane configuration: strict YAML overlaid by flags.
#include "controlplane/config.h"

#include "common/flags.h"

namespace tollgate::controlplane {
namespace {

const std::vector<FlagSpec>& flagSpecs() {
  static const std::vector<FlagSpec> kSpecs = daemonFlags({
      {"grpc-address", true, false, "gRPC listen HOST:PORT (default 127.0.0.1:15090)"},
      {"tls-cert", true, false, "PEM certificate for the gRPC port"},
      {"tls-key", true, false, "PEM private key for the gRPC port"},
      {"client-ca", true, false, "PEM CA that client certificates must chain to (mTLS)"},
      {"data-dir", true, false, "directory for the embedded store (default /var/lib/tollgate)"},
      {"policy", true, false, "policy file applied at first start"},
  });
  return kSpecs;
}

void readYaml(const YAML::Node& root, YamlErrors& errors, ControlPlaneConfig& cfg) {
  YamlMap top(root, errors, "controlplane config");
  readLogConfig(top, cfg.log);
  readAdminConfig(top, cfg.admin);
  if (YAML::Node g = top.get("grpc")) {
    YamlMap m(g, errors, "grpc");
    if (auto a = m.str("address")) cfg.grpc.address = *a;
    if (auto p = m.integer("port", 0, 65535)) cfg.grpc.port = static_cast<int>(*p);
    if (YAML::Node t = m.get("tls")) {
      YamlMap tls(t, errors, "grpc.tls");
      if (auto c = tls.str("cert", true)) cfg.grpc.tls_cert = *c;
      if (auto k = tls.str("key", true)) cfg.grpc.tls_key = *k;
      if (auto ca = tls.str("clientCa")) cfg.grpc.client_ca = *ca;
      tls.finish();
    }
    m.finish();
  }
  if (auto d = top.str("dataDir")) cfg.data_dir = *d;
  if (auto p = top.str("policy")) cfg.policy_file = *p;
  top.finish();
}

}  // namespace

bool isLoopbackAddress(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

absl::StatusOr<ControlPlaneConfig> loadControlPlaneConfig(int argc, const char* const* argv) {
  ControlPlaneConfig cfg;
  auto flags = parseDaemonCommandLine(
      "tollgate-controlplane", argc, argv, flagSpecs(),
      [&](const YAML::Node& root, YamlErrors& errors) { readYaml(root, errors, cfg); });
  if (!flags.ok()) return flags.status();
  cfg.config_file = flags->getOr("config", "");
  if (auto g = flags->get("grpc-address")) {
    if (!splitHostPort(*g, &cfg.grpc.address, &cfg.grpc.port)) {
      return absl::InvalidArgumentError("--grpc-address must be HOST:PORT, got '" + *g + "'");
    }
  }
  if (auto c = flags->get("tls-cert")) cfg.grpc.tls_cert = *c;
  if (auto k = flags->get("tls-key")) cfg.grpc.tls_key = *k;
  if (auto ca = flags->get("client-ca")) cfg.grpc.client_ca = *ca;
  if (auto d = flags->get("data-dir")) cfg.data_dir = *d;
  if (auto p = flags->get("policy")) cfg.policy_file = *p;
  if (auto st = applyCommonFlags(*flags, cfg.log, cfg.admin); !st.ok()) return st;
  if (cfg.grpc.tls_cert.empty() != cfg.grpc.tls_key.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key");
  }
  if (cfg.grpc.tls_cert.empty() && !isLoopbackAddress(cfg.grpc.address)) {
    return absl::InvalidArgumentError("gRPC on non-loopback address " + cfg.grpc.address +
                                      " requires TLS (--tls-cert and --tls-key)");
  }
  return cfg;
}

}  // namespace tollgate::controlplane
