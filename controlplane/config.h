// The control plane's settings: YAML file plus command-line flags (flags win).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/daemon.h"
#include "controlplane/identity/identity_config.h"
#include "controlplane/webhook/webhook_config.h"

namespace tollgate::controlplane {

struct GrpcConfig {
  std::string address = "127.0.0.1";
  int port = 15090;
  // TLS material (PEM files). Empty cert/key: plaintext, allowed only on loopback addresses.
  std::string tls_cert;
  std::string tls_key;
  // When set, clients must present a certificate signed by this CA (mTLS).
  std::string client_ca;
};

// Where the audit trail is stored (`audit:`).
enum class AuditBackend {
  kSqlite,    // <dataDir>/audit.db, one replica
  kPostgres,  // a PostgreSQL database shared by every replica (`dsn`)
};

struct AuditConfig {
  AuditBackend backend = AuditBackend::kSqlite;
  // libpq connection string or URI (postgres only). May hold a password: never logged; use
  // describePgDsn() to name it.
  std::string dsn;
  // PEM Ed25519 checkpoint key; empty: <dataDir>/audit-signing-key.pem.
  std::string key_file;
  // Generate the key when the file is missing. Unset: yes for sqlite, no for postgres (every
  // replica of a shared trail must load the same key, so one must be provisioned).
  std::optional<bool> create_key;
  // Records older than `retention` are pruned (PCI DSS 10.5.1: at least 12 months; the
  // default is 366 days); a signed checkpoint every `checkpoint_every` records (0: none).
  std::chrono::hours retention{24 * 366};
  uint64_t checkpoint_every = 1000;

  bool createKey() const { return create_key.value_or(backend == AuditBackend::kSqlite); }
};

struct ControlPlaneConfig {
  std::string config_file;
  LogConfig log;
  AdminConfig admin{"127.0.0.1", 15021};
  GrpcConfig grpc;
  // Directory for the embedded SQLite store and keys.
  std::string data_dir = "/var/lib/tollgate";
  // Initial policy file applied at first start when the store has none.
  std::string policy_file;
  // Name of this replica, used as the audit source "controlplane/<name>".
  std::string replica_name = "controlplane-0";
  // Trusted token issuers, group->role mapping, bootstrap token (`identity:`).
  identity::IdentityConfig identity;
  // Audit store backend, key, retention and checkpoints (`audit:`).
  AuditConfig audit;
  // Directory of brokered credential files, one per secret name (empty: none brokered).
  std::string credentials_dir;
  // Outgoing webhook announcing pending approvals (`approvals: {webhookUrl, webhookCa}`).
  std::string approvals_webhook_url;
  std::string approvals_webhook_ca;
  // The mutating admission webhook (its own HTTPS port); off unless configured.
  webhook::WebhookConfig webhook;
  // --check-config: validate (syntax, keys, values; no files opened but dsnFile) and exit.
  bool check_only = false;
};

// Parses argv (after the program name): --config FILE first, then flags. Errors are one line
// naming the file, line and column (config) or the flag. --help / --version come back as
// CANCELLED with the text to print.
absl::StatusOr<ControlPlaneConfig> loadControlPlaneConfig(int argc, const char* const* argv);

// A PostgreSQL DSN for logs and errors: "host=H port=P dbname=D user=U" from the parsed
// connection string (unset parts left out), never the password or other options.
// INVALID_ARGUMENT when libpq cannot parse it (the message does not quote the DSN).
absl::StatusOr<std::string> describePgDsn(const std::string& dsn);

// `message` with every occurrence of the DSN's password (and of the whole DSN) replaced by
// "***", for errors that came back from libpq.
std::string redactPgDsn(std::string message, const std::string& dsn);

}  // namespace tollgate::controlplane
