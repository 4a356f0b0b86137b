// Sidecar configuration: strict YAML (unknown keys are errors) overlaid by flags.
#include "sidecar/config.h"

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "common/flags.h"
#include "policy/subject.h"

namespace tollgate::sidecar {
namespace {

const std::vector<FlagSpec>& flagSpecs() {
  static const std::vector<FlagSpec> kSpecs = daemonFlags({
      {"policy", true, false, "policy file (standalone mode, no control plane)"},
      {"listen", true, true, "ADDR:PORT=RESOURCE explicit listener (repeatable)"},
      {"events", true, false, "JSON-lines event file for standalone mode ('-' = stdout)"},
      {"workers", true, false, "number of worker event loops (default 1)"},
      {"subject", true, false,
       "standalone mode: identity whose access rules apply (NAMESPACE/SERVICEACCOUNT or a "
       "subject string)"},
      {"group", true, true, "standalone mode: a group of that identity (repeatable)"},
      {"client-tls-ca", true, false, "CA certificate for TLS offered to clients (PEM)"},
      {"client-tls-ca-key", true, false, "key of that CA (PEM)"},
      {"drain-seconds", true, false, "grace period for sessions on shutdown (default 5)"},
      {"startup-timeout", true, false,
       "seconds a client has to complete its startup and login (default 60)"},
      {"dns-refresh-seconds", true, false,
       "seconds a resolved host name of the policy is used before it is looked up again "
       "(default 30)"},
      {"max-statement-bytes", true, false,
       "longest SQL text a Query or Parse may carry (default 8388608)"},
      {"max-message-bytes", true, false,
       "largest protocol message (a row, a Bind) the sidecar holds to inspect (default 67108864)"},
      {"control-plane", true, false, "HOST:PORT of the control plane (connected mode)"},
      {"control-plane-ca", true, false, "CA certificate of the control plane (PEM)"},
      {"control-plane-cert", true, false, "client certificate for mTLS (PEM)"},
      {"control-plane-key", true, false, "client key for mTLS (PEM)"},
      {"token-file", true, false, "workload token file (default /var/run/secrets/tollgate/token)"},
      {"spool-dir", true, false, "audit spool directory (default /var/lib/tollgate/spool)"},
      {"audit-drain-seconds", true, false,
       "on shutdown, wait this long for spooled audit events to be acknowledged (default 20)"},
      {"max-audit-backlog-bytes", true, false,
       "unacknowledged audit bytes past which new sessions are refused (default 33554432)"},
      {"transparent-port", true, false, "enable the transparent listener on this port"},
      {"exit-when-done", false, false, "exit once the pod's other processes have all ended"},
  });
  return kSpecs;
}

void readYaml(const YAML::Node& root, YamlErrors& errors, SidecarConfig& cfg) {
  YamlMap top(root, errors, "sidecar config");
  readLogConfig(top, cfg.log);
  readAdminConfig(top, cfg.admin);
  if (auto w = top.integer("workers", 1, 64)) cfg.workers = static_cast<int>(*w);
  if (auto p = top.str("policy")) cfg.policy_file = *p;
  if (auto e = top.str("events")) cfg.events_file = *e;
  if (YAML::Node ls = top.get("listeners")) {
    if (!ls.IsSequence()) {
      errors.add(ls, "listeners must be a list");
    } else {
      for (const auto& item : ls) {
        YamlMap m(item, errors, "listener");
        ListenerConfig l;
        if (auto a = m.str("address")) l.address = *a;
        if (auto p = m.integer("port", 1, 65535, true)) l.port = static_cast<int>(*p);
        if (auto r = m.str("resource", true)) l.resource = *r;
        m.finish();
        cfg.listeners.push_back(l);
      }
    }
  }
  if (YAML::Node id = top.get("identity")) {
    YamlMap m(id, errors, "identity");
    if (auto sub = m.str("subject", true)) cfg.identity.subject = policy::expandSubject(*sub);
    cfg.identity.groups = m.strList("groups");
    m.finish();
  }
  if (YAML::Node t = top.get("clientTls")) {
    YamlMap m(t, errors, "clientTls");
    if (auto c = m.str("ca", true)) cfg.client_tls.ca_cert = *c;
    if (auto k = m.str("caKey", true)) cfg.client_tls.ca_key = *k;
    m.finish();
  }
  if (auto d = top.integer("drainSeconds", 0, 3600)) cfg.drain_seconds = static_cast<int>(*d);
  if (auto d = top.integer("startupTimeoutSeconds", 1, 3600)) {
    cfg.startup_timeout_seconds = static_cast<int>(*d);
  }
  if (auto d = top.integer("dnsRefreshSeconds", 1, 86400)) {
    cfg.dns_refresh_seconds = static_cast<int>(*d);
  }
  if (auto d = top.integer("maxStatementBytes", 1024, 1 << 30)) {
    cfg.max_statement_bytes = static_cast<size_t>(*d);
  }
  if (auto d = top.integer("maxMessageBytes", 1 << 20, 1 << 30)) {
    cfg.max_message_bytes = static_cast<size_t>(*d);
  }
  if (auto n = top.str("instanceName")) cfg.instance_name = *n;
  if (YAML::Node c = top.get("controlPlane")) {
    YamlMap m(c, errors, "controlPlane");
    auto& cp = cfg.control_plane;
    if (auto a = m.str("address", true)) cp.address = *a;
    if (auto v = m.str("ca")) cp.ca = *v;
    if (auto v = m.str("cert")) cp.cert = *v;
    if (auto v = m.str("key")) cp.key = *v;
    if (auto v = m.str("tokenFile")) cp.token_file = *v;
    if (auto v = m.str("spoolDir")) cp.spool_dir = *v;
    if (auto v = m.integer("connectTimeoutSeconds", 0, 600)) {
      cp.connect_timeout_seconds = static_cast<int>(*v);
    }
    if (auto v = m.integer("auditDrainSeconds", 0, 3600)) {
      cp.audit_drain_seconds = static_cast<int>(*v);
    }
    if (auto v = m.integer("maxAuditBacklogBytes", 4096, int64_t{1} << 40)) {
      cp.max_audit_backlog_bytes = static_cast<size_t>(*v);
    }
    m.finish();
  }
  if (YAML::Node t = top.get("transparent")) {
    YamlMap m(t, errors, "transparent");
    cfg.transparent.enabled = true;
    if (auto en = m.boolean("enabled")) cfg.transparent.enabled = *en;
    if (auto a = m.str("address")) cfg.transparent.address = *a;
    if (auto a6 = m.str("address6")) cfg.transparent.address6 = *a6;
    if (auto p = m.integer("port", 1, 65535)) cfg.transparent.port = static_cast<int>(*p);
    m.finish();
  }
  top.finish();
}

}  // namespace

absl::StatusOr<ListenerConfig> parseListenFlag(const std::string& text) {
  auto eq = text.find('=');
  ListenerConfig l;
  if (eq == std::string::npos || eq + 1 == text.size() ||
      !splitHostPort(std::string_view(text).substr(0, eq), &l.address, &l.port) || l.port == 0) {
    return absl::InvalidArgumentError("--listen must look like 127.0.0.1:6432=RESOURCE, got '" +
                                      text + "'");
  }
  l.resource = text.substr(eq + 1);
  return l;
}

// Sets *out from integer flag `name` when it is given; an error names the flag and its bounds.
template <typename T>
absl::Status readBoundedFlag(const Flags& flags, const char* name, int64_t lo, int64_t hi, T* out) {
  auto text = flags.get(name);
  if (!text) return absl::OkStatus();
  auto v = parseInt(*text, lo, hi);
  if (!v) {
    return absl::InvalidArgumentError("--" + std::string(name) + " must be between " +
                                      std::to_string(lo) + " and " + std::to_string(hi) +
                                      ", got '" + *text + "'");
  }
  *out = static_cast<T>(*v);
  return absl::OkStatus();
}

absl::StatusOr<SidecarConfig> loadSidecarConfig(int argc, const char* const* argv) {
  SidecarConfig cfg;
  auto flags = parseDaemonCommandLine(
      "tollgate-sidecar", argc, argv, flagSpecs(),
      [&](const YAML::Node& root, YamlErrors& errors) { readYaml(root, errors, cfg); });
  if (!flags.ok()) {
    if (absl::IsCancelled(flags.status()) && absl::StartsWith(flags.status().message(), "usage:")) {
      // The flags name only part of it: the config file's keys are documented there.
      return absl::CancelledError(
          std::string(flags.status().message()) +
          "\nEvery config-file key (--config), the exit codes and what standalone mode ignores\n"
          "or refuses: docs/sidecar.md in the Tollgate sources.\n");
    }
    return flags.status();
  }
  cfg.config_file = flags->getOr("config", "");
  if (auto p = flags->get("policy")) cfg.policy_file = *p;
  if (auto e = flags->get("events")) cfg.events_file = *e;
  for (const auto& l : flags->all("listen")) {
    auto parsed = parseListenFlag(l);
    if (!parsed.ok()) return parsed.status();
    cfg.listeners.push_back(*parsed);
  }
  for (const absl::Status& st :
       {readBoundedFlag(*flags, "workers", 1, 64, &cfg.workers),
        readBoundedFlag(*flags, "drain-seconds", 0, 3600, &cfg.drain_seconds),
        readBoundedFlag(*flags, "audit-drain-seconds", 0, 3600,
                        &cfg.control_plane.audit_drain_seconds),
        readBoundedFlag(*flags, "max-audit-backlog-bytes", 4096, int64_t{1} << 40,
                        &cfg.control_plane.max_audit_backlog_bytes),
        readBoundedFlag(*flags, "startup-timeout", 1, 3600, &cfg.startup_timeout_seconds),
        readBoundedFlag(*flags, "dns-refresh-seconds", 1, 86400, &cfg.dns_refresh_seconds),
        readBoundedFlag(*flags, "max-statement-bytes", 1024, 1 << 30, &cfg.max_statement_bytes),
        readBoundedFlag(*flags, "max-message-bytes", 1 << 20, 1 << 30, &cfg.max_message_bytes)}) {
    if (!st.ok()) return st;
  }
  if (auto sub = flags->get("subject")) cfg.identity.subject = policy::expandSubject(*sub);
  for (const auto& g : flags->all("group")) cfg.identity.groups.push_back(g);
  if (auto c = flags->get("client-tls-ca")) cfg.client_tls.ca_cert = *c;
  if (auto k = flags->get("client-tls-ca-key")) cfg.client_tls.ca_key = *k;
  if (cfg.client_tls.ca_cert.empty() != cfg.client_tls.ca_key.empty()) {
    return absl::InvalidArgumentError("client TLS needs both the CA certificate and its key");
  }
  auto& cp = cfg.control_plane;
  if (auto v = flags->get("control-plane")) cp.address = *v;
  if (auto v = flags->get("control-plane-ca")) cp.ca = *v;
  if (auto v = flags->get("control-plane-cert")) cp.cert = *v;
  if (auto v = flags->get("control-plane-key")) cp.key = *v;
  if (auto v = flags->get("token-file")) cp.token_file = *v;
  if (auto v = flags->get("spool-dir")) cp.spool_dir = *v;
  if (cp.ca.empty()) {
    if (const char* pem = std::getenv("TOLLGATE_CONTROL_PLANE_CA_PEM"); pem && *pem)
      cp.ca_pem = pem;
  }
  if (auto v = flags->get("transparent-port")) {
    auto port = parseInt(*v, 1, 65535);
    if (!port) {
      return absl::InvalidArgumentError("--transparent-port must be a port number, got '" + *v +
                                        "'");
    }
    cfg.transparent.enabled = true;
    cfg.transparent.port = static_cast<int>(*port);
  }
  if (flags->has("exit-when-done")) cfg.exit_when_done = true;
  if (!cp.address.empty()) {
    std::string host;
    int port = 0;
    if (!splitHostPort(cp.address, &host, &port) || port == 0) {
      return absl::InvalidArgumentError("--control-plane must look like HOST:PORT, got '" +
                                        cp.address + "'");
    }
    if (!cfg.policy_file.empty()) {
      return absl::InvalidArgumentError(
          "--policy is for standalone mode; with a control plane the policy comes from it");
    }
    if (cp.ca.empty() && cp.ca_pem.empty() && host != "127.0.0.1" && host != "::1" &&
        host != "localhost") {
      return absl::InvalidArgumentError(
          "the control plane at " + cp.address +
          " is not on loopback: give its CA (--control-plane-ca) so the stream uses TLS");
    }
    if (cp.cert.empty() != cp.key.empty()) {
      return absl::InvalidArgumentError("mTLS needs both --control-plane-cert and -key");
    }
  } else if (!cfg.listeners.empty() && cfg.policy_file.empty()) {
    return absl::InvalidArgumentError(
        "listeners need a policy (--policy FILE or 'policy:' in the config) or a control plane "
        "(--control-plane HOST:PORT)");
  }
  if (auto st = applyCommonFlags(*flags, cfg.log, cfg.admin); !st.ok()) return st;
  return cfg;
}

}  // namespace tollgate::sidecar
