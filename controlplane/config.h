// The control plane's settings: YAML file plus command-line flags (flags win).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/daemon.h"
#include "controlplane/identity/identity_config.h"

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
  // Audit store: records older than `retention` are pruned (PCI DSS 10.5.1: at least 12
  // months; the default is 366 days); a signed checkpoint every `checkpoint_every` records.
  std::chrono::hours audit_retention{24 * 366};
  uint64_t audit_checkpoint_every = 1000;
  // Directory of brokered credential files, one per secret name (empty: none brokered).
  std::string credentials_dir;
  // Outgoing webhook announcing pending approvals (`approvals: {webhookUrl, webhookCa}`).
  std::string approvals_webhook_url;
  std::string approvals_webhook_ca;
};

// Parses argv (after the program name): --config FILE first, then flags. Errors are one line
// naming the file, line and column (config) or the flag. --help / --version come back as
// CANCELLED with the text to print.
absl::StatusOr<ControlPlaneConfig> loadControlPlaneConfig(int argc, const char* const* argv);

// True for 127.0.0.0/8, ::1 and "localhost".
bool isLoopbackAddress(const std::string& address);

}  // namespace tollgate::controlplane
