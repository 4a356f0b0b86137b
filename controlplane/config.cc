// Control-plane configuration: strict YAML overlaid by flags.
#include "controlplane/config.h"

#include <libpq-fe.h>

#include <fstream>
#include <iterator>
#include <memory>

#include "common/flags.h"

namespace tollgate::controlplane {
namespace {

// Where the audit backend and DSN were set in the YAML, for errors found after the flags.
struct AuditNodes {
  YAML::Node backend;
  YAML::Node dsn;
};

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
      {"check-config", false, false, "validate the configuration, print the result and exit"},
      {"audit-backend", true, false, "audit store: sqlite (default, in the data dir) or postgres"},
      {"audit-dsn", true, false, "PostgreSQL connection string for --audit-backend postgres"},
  });
  return kSpecs;
}

AuditBackend backendNamed(const std::string& name) {
  return name == "postgres" ? AuditBackend::kPostgres : AuditBackend::kSqlite;
}

void readAudit(YamlMap& top, YamlErrors& errors, AuditConfig& audit, AuditNodes& nodes) {
  YAML::Node a = top.get("audit");
  if (!a) return;
  YamlMap m(a, errors, "audit");
  if (auto b = m.oneOf("backend", {"sqlite", "postgres"})) {
    audit.backend = backendNamed(*b);
    nodes.backend = m.get("backend");
  }
  if (auto d = m.str("dsn")) {
    nodes.dsn = m.get("dsn");
    if (d->empty()) {
      errors.add(nodes.dsn, "audit.dsn must not be empty");
    } else {
      audit.dsn = *d;
    }
  }
  // The connection string from a file (a mounted Secret), so no password sits in the config.
  if (auto f = m.str("dsnFile")) {
    YAML::Node node = m.get("dsnFile");
    std::ifstream in(*f);
    std::string dsn((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!dsn.empty() && (dsn.back() == '\n' || dsn.back() == '\r' || dsn.back() == ' ')) {
      dsn.pop_back();
    }
    if (!in.good() && dsn.empty()) {
      errors.add(node, "audit.dsnFile " + *f + " cannot be read or is empty");
    } else if (!audit.dsn.empty()) {
      errors.add(node, "give audit.dsn or audit.dsnFile, not both");
    } else {
      audit.dsn = dsn;
      nodes.dsn = node;
    }
  }
  if (auto k = m.str("keyFile")) audit.key_file = *k;
  if (auto c = m.boolean("createKey")) audit.create_key = *c;
  if (auto r = m.durationSeconds("retention")) {
    if (*r < 3600) {
      errors.add(m.get("retention"), "audit.retention must be at least 1h");
    } else {
      audit.retention = std::chrono::hours(*r / 3600);
    }
  }
  if (auto c = m.integer("checkpointEvery", 0, 1000000000)) {
    audit.checkpoint_every = static_cast<uint64_t>(*c);
  }
  m.finish();
}

// Backend and DSN must agree once the flags are applied. Positioned at the YAML value when the
// conflicting value came from the file.
absl::Status checkAudit(const ControlPlaneConfig& cfg, const AuditNodes& nodes, bool backend_flag,
                        bool dsn_flag) {
  auto fail = [&](const YAML::Node& node, bool from_flag, const std::string& message) {
    if (from_flag || !node.IsDefined()) return absl::InvalidArgumentError(message);
    YamlErrors errors(cfg.config_file);
    errors.add(node, message);
    return errors.toStatus();
  };
  if (cfg.audit.backend == AuditBackend::kPostgres && cfg.audit.dsn.empty()) {
    return fail(nodes.backend, backend_flag,
                "audit.backend postgres needs audit.dsn (or --audit-dsn)");
  }
  if (cfg.audit.backend == AuditBackend::kSqlite && !cfg.audit.dsn.empty()) {
    return fail(nodes.dsn, dsn_flag,
                "audit.dsn is set but audit.backend is sqlite (set backend: postgres)");
  }
  return absl::OkStatus();
}

void readYaml(const YAML::Node& root, YamlErrors& errors, ControlPlaneConfig& cfg,
              AuditNodes& audit_nodes) {
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
  readAudit(top, errors, cfg.audit, audit_nodes);
  if (YAML::Node a = top.get("approvals")) {
    YamlMap m(a, errors, "approvals");
    if (auto u = m.str("webhookUrl")) {
      // As the webhook client takes it, so --check-config refuses what a start would.
      if (u->rfind("http://", 0) != 0 && u->rfind("https://", 0) != 0) {
        errors.add(m.get("webhookUrl"), "approvals.webhookUrl must start with http:// or https://");
      }
      cfg.approvals_webhook_url = *u;
    }
    if (auto c = m.str("webhookCa")) cfg.approvals_webhook_ca = *c;
    m.finish();
  }
  webhook::readWebhookConfig(top, cfg.webhook);
  top.finish();
}

}  // namespace

absl::StatusOr<std::string> describePgDsn(const std::string& dsn) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(
      PQconninfoParse(dsn.c_str(), &err), &PQconninfoFree);
  if (err != nullptr) PQfreemem(err);  // may quote the DSN, password included
  if (!opts) {
    return absl::InvalidArgumentError(
        "the PostgreSQL connection string (audit.dsn) cannot be parsed; expected "
        "\"host=... dbname=...\" or \"postgresql://host/db\"");
  }
  std::string out;
  for (const char* key : {"host", "hostaddr", "port", "dbname", "user"}) {
    for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
      if (std::string(o->keyword) != key || o->val == nullptr || *o->val == '\0') continue;
      if (!out.empty()) out += " ";
      out += std::string(key) + "=" + o->val;
    }
  }
  return out.empty() ? std::string("(libpq defaults)") : out;
}

std::string redactPgDsn(std::string message, const std::string& dsn) {
  auto replaceAll = [&message](const std::string& secret) {
    if (secret.empty()) return;
    for (size_t at = message.find(secret); at != std::string::npos;
         at = message.find(secret, at + 3)) {
      message.replace(at, secret.size(), "***");
    }
  };
  replaceAll(dsn);
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(
      PQconninfoParse(dsn.c_str(), &err), &PQconninfoFree);
  if (err != nullptr) PQfreemem(err);
  if (opts) {
    for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
      if (std::string(o->keyword) == "password" && o->val != nullptr) replaceAll(o->val);
    }
  }
  return message;
}

absl::StatusOr<ControlPlaneConfig> loadControlPlaneConfig(int argc, const char* const* argv) {
  ControlPlaneConfig cfg;
  AuditNodes audit_nodes;
  auto flags = parseDaemonCommandLine("tollgate-controlplane", argc, argv, flagSpecs(),
                                      [&](const YAML::Node& root, YamlErrors& errors) {
                                        readYaml(root, errors, cfg, audit_nodes);
                                      });
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
  cfg.check_only = flags->has("check-config");
  auto backend_flag = flags->get("audit-backend");
  if (backend_flag) {
    if (*backend_flag != "sqlite" && *backend_flag != "postgres") {
      return absl::InvalidArgumentError("--audit-backend must be sqlite or postgres, got '" +
                                        *backend_flag + "'");
    }
    cfg.audit.backend = backendNamed(*backend_flag);
  }
  auto dsn_flag = flags->get("audit-dsn");
  if (dsn_flag) {
    if (dsn_flag->empty()) return absl::InvalidArgumentError("--audit-dsn must not be empty");
    cfg.audit.dsn = *dsn_flag;
  }
  if (auto st = checkAudit(cfg, audit_nodes, backend_flag.has_value(), dsn_flag.has_value());
      !st.ok()) {
    return st;
  }
  if (auto st = applyCommonFlags(*flags, cfg.log, cfg.admin); !st.ok()) return st;
  if (cfg.grpc.tls_cert.empty() != cfg.grpc.tls_key.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key");
  }
  if (cfg.replica_name.empty()) return absl::InvalidArgumentError("replicaName must not be empty");
  if (auto st = identity::validateIdentityConfig(cfg.identity); !st.ok()) return st;
  if (auto st = webhook::validateWebhookConfig(cfg.webhook); !st.ok()) return st;
  if (cfg.grpc.tls_cert.empty() && !isLoopbackHost(cfg.grpc.address)) {
    return absl::InvalidArgumentError("gRPC on non-loopback address " + cfg.grpc.address +
                                      " requires TLS (--tls-cert and --tls-key)");
  }
  return cfg;
}

}  // namespace tollgate::controlplane
