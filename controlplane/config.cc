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
      {"credentials-dir", true, false, "directory of brokered credential files"},
      {"replica-name", true, false, "name of this replica (audit source)"},
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
  if (auto r = top.str("replicaName")) cfg.replica_name = *r;
  if (auto c = top.str("credentialsDir")) cfg.credentials_dir = *c;
  identity::readIdentityConfig(top, cfg.identity);
  if (YAML::Node a = top.get("audit")) {
    YamlMap m(a, errors, "audit");
    if (auto r = m.durationSeconds("retention")) {
      if (*r < 3600) {
        errors.add(m.get("retention"), "audit.retention must be at least 1h");
      } else {
        cfg.audit_retention = std::chrono::hours(*r / 3600);
      }
    }
    if (auto c = m.integer("checkpointEvery", 0, 1000000000)) {
      cfg.audit_checkpoint_every = static_cast<uint64_t>(*c);
    }
    m.finish();
  }
  if (YAML::Node a = top.get("approvals")) {
    YamlMap m(a, errors, "approvals");
    if (auto u = m.str("webhookUrl")) cfg.approvals_webhook_url = *u;
    if (auto c = m.str("webhookCa")) cfg.approvals_webhook_ca = *c;
    m.finish();
  }
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
  if (auto c = flags->get("credentials-dir")) cfg.credentials_dir = *c;
  if (auto r = flags->get("replica-name")) cfg.replica_name = *r;
  if (auto st = applyCommonFlags(*flags, cfg.log, cfg.admin); !st.ok()) return st;
  if (cfg.grpc.tls_cert.empty() != cfg.grpc.tls_key.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key");
  }
  if (cfg.replica_name.empty()) return absl::InvalidArgumentError("replicaName must not be empty");
  if (auto st = identity::validateIdentityConfig(cfg.identity); !st.ok()) return st;
  if (cfg.grpc.tls_cert.empty() && !isLoopbackAddress(cfg.grpc.address)) {
    return absl::InvalidArgumentError("gRPC on non-loopback address " + cfg.grpc.address +
                                      " requires TLS (--tls-cert and --tls-key)");
  }
  return cfg;
}

}  // namespace tollgate::controlplane
