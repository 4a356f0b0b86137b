// The sidecar's settings: YAML file plus command-line flags (flags win).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/daemon.h"

namespace tollgate::sidecar {

// An explicit listener: accept on address:port and treat every connection as `resource`.
struct ListenerConfig {
  std::string address = "127.0.0.1";
  int port = 0;
  std::string resource;
};

// The transparent listener that receives iptables-redirected connections.
// ip6tables REDIRECT sends IPv6 connections to the IPv6 loopback, so a second socket listens
// there on the same port; "" turns it off. It is optional: a pod without IPv6 just has none.
struct TransparentConfig {
  bool enabled = false;
  std::string address = "127.0.0.1";
  std::string address6 = "::1";
  int port = 15001;
};

// Standalone mode has no control plane to vouch for the workload: the operator names the
// identity whose access rules apply. With a control plane this comes from the verified token.
struct StandaloneIdentity {
  std::string subject;  // e.g. "system:serviceaccount:payments-ci:nightly-report"
  std::vector<std::string> groups;
};

// TLS offered to clients that insist on it (sslmode=require / verify-full): certificates for
// the destination name are minted from this CA.
struct ClientTlsConfig {
  std::string ca_cert;
  std::string ca_key;
};

// Connected mode: identity, policy, grants, credentials and approvals come from the control
// plane, and audit events go to it (spooled on disk until acknowledged).
struct ControlPlaneLink {
  std::string address;  // host:port; empty: standalone mode
  // CA that signs the control plane's certificate (file, or PEM text from the environment
  // variable TOLLGATE_CONTROL_PLANE_CA_PEM, which the webhook sets); neither: plaintext,
  // loopback only.
  std::string ca;
  std::string ca_pem;
  std::string cert;  // client certificate + key for mTLS (optional)
  std::string key;
  // Projected ServiceAccount token (audience tollgate), re-read at every reconnect.
  std::string token_file = "/var/run/secrets/tollgate/token";
  // Unacknowledged audit events survive restarts here (an emptyDir in a pod).
  std::string spool_dir = "/var/lib/tollgate/spool";
  // How long start-up waits for the first Welcome before serving (refusing meanwhile).
  int connect_timeout_seconds = 10;
  // On shutdown, after the sessions: how long to wait for the control plane to acknowledge
  // what is spooled (reconnecting if it is down). A pod's emptyDir spool goes with the pod,
  // so this plus drain_seconds should stay under the pod's terminationGracePeriodSeconds
  // (30 by default).
  int audit_drain_seconds = 20;
  // Unacknowledged audit bytes past which new sessions are refused (statements too, past half
  // as much again). The default leaves room in the pod's 128 MiB emptyDir for the spool file,
  // its acknowledged prefix and a compaction's copy.
  size_t max_audit_backlog_bytes = 32u << 20;
};

struct SidecarConfig {
  std::string config_file;  // empty when only flags were used
  LogConfig log;
  AdminConfig admin{"127.0.0.1", 15020};
  int workers = 1;
  // Policy file for standalone mode (no control plane).
  std::string policy_file;
  std::vector<ListenerConfig> listeners;
  TransparentConfig transparent;
  // JSON-lines event sink for standalone mode ("-" = stdout).
  std::string events_file;
  StandaloneIdentity identity;
  ClientTlsConfig client_tls;
  // On SIGTERM: stop accepting, let sessions finish for this long, then end them.
  int drain_seconds = 5;
  // A client that has not completed its startup and login by then is disconnected.
  int startup_timeout_seconds = 60;
  // Host names of the policy (match.hosts, upstream hosts) are looked up again after this long:
  // getaddrinfo gives no TTL, so this is how late a DNS change is seen, by upstream
  // connections and by the mapping of redirected connections to resources alike.
  int dns_refresh_seconds = 30;
  // SQL longer than this is refused unanalysed (libpg_query needs several times its size).
  size_t max_statement_bytes = 8u << 20;
  // Largest protocol message held whole to be inspected (a row to mask, a Bind); a session
  // may hold about twice this. Larger ones end the session with 54000 (CopyData streams, and
  // statements over max_statement_bytes are dropped unread, so neither counts).
  size_t max_message_bytes = 64u << 20;
  // Classic (non-native) sidecar: drain and exit once every other process of the pod is gone
  // (the pod shares its process namespace), so a Job completes.
  bool exit_when_done = false;
  ControlPlaneLink control_plane;
  // Name recorded as the events' source ("sidecar/<name>"); default: $POD_NAME or hostname.
  // A control plane ignores it for pod-bound tokens (see Hello.instance_id).
  std::string instance_name;
};

// Parses argv (after the program name). Reads --config FILE first, then applies flags.
// Errors are one line naming the file, line and column (config) or the flag.
// Returns NOT_FOUND-free "help" requests as a status with code CANCELLED and the usage text.
absl::StatusOr<SidecarConfig> loadSidecarConfig(int argc, const char* const* argv);

// Parses "ADDR:PORT=RESOURCE" (e.g. "127.0.0.1:6432=payments-db").
absl::StatusOr<ListenerConfig> parseListenFlag(const std::string& text);

}  // namespace tollgate::sidecar
