// Connection to a control plane for online tollgatectl commands: saved login, flags, env, auth.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/flags.h"

namespace tollgate::ctl {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;  // the server answered with an error (or "no")
inline constexpr int kExitUsage = 2;        // bad command line or local configuration
inline constexpr int kExitConnect = 3;      // cannot connect, or the token was not accepted

// Where and how to reach the control plane.
struct Endpoint {
  std::string server;     // HOST:PORT
  std::string ca_file;    // PEM roots for TLS (empty: system roots)
  std::string cert_file;  // client certificate for mTLS (with key_file)
  std::string key_file;
  std::string token;       // bearer token (may be empty: the server then says UNAUTHENTICATED)
  std::string token_file;  // where `token` came from, when it came from a file
  // Plaintext was asked for explicitly; without it plaintext is used only for a loopback
  // server with no CA file.
  bool insecure = false;
  std::chrono::milliseconds timeout{10000};

  // True when the channel will be plaintext.
  bool plaintext() const;
};

// The saved login (ctl.yaml). Keys: server, ca, cert, key, token, tokenFile, insecure.
struct SavedLogin {
  std::string server;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string token;
  std::string token_file;
  bool insecure = false;
};

// Path of the config file: $TOLLGATE_CONFIG, else $XDG_CONFIG_HOME/tollgate/ctl.yaml, else
// $HOME/.config/tollgate/ctl.yaml. Empty when none of these variables is set.
std::string configPath();

// Reads the saved login. nullopt (OK) when the file does not exist. FAILED_PRECONDITION when
// the file is readable or writable by group or others, or owned by another user (like ssh,
// a token file others can read is refused); INVALID_ARGUMENT for a malformed file.
absl::StatusOr<std::optional<SavedLogin>> loadSavedLogin(const std::string& path);

// Writes `login` to `path` with mode 0600 (replacing the file atomically; parent directories
// are created with mode 0700).
absl::Status saveLogin(const std::string& path, const SavedLogin& login);

// The flags every online command accepts, appended to a command's own `extra` flags:
// --server --ca --cert --key --token --token-file --insecure --timeout --json --help.
std::vector<FlagSpec> onlineFlags(std::initializer_list<FlagSpec> extra);

// Resolves the endpoint from, in order of precedence, flags, then TOLLGATE_SERVER /
// TOLLGATE_TOKEN, then the saved login. The saved CA, client certificate and token are used
// only when the effective server is the saved server, so a token is never sent to a server it
// was not saved for. INVALID_ARGUMENT (a usage error) when no server is known, a flag value is
// malformed, or a token file cannot be read.
absl::StatusOr<Endpoint> resolveEndpoint(const Flags& flags);

// Reads a token file: the whole content with surrounding whitespace trimmed.
absl::StatusOr<std::string> readTokenFile(const std::string& path);

// A channel plus per-call contexts carrying the bearer token and the deadline.
class Client {
 public:
  // Builds the channel (TLS unless Endpoint::plaintext()). Fails only when the CA or client
  // certificate files cannot be read (INVALID_ARGUMENT naming the file).
  static absl::StatusOr<Client> create(Endpoint endpoint);

  // A context with `authorization: Bearer <token>` and the per-call deadline; `deadline`
  // false leaves the call unbounded (streams that run until interrupted).
  std::unique_ptr<grpc::ClientContext> context(bool deadline = true) const;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const Endpoint& endpoint() const { return endpoint_; }

  // Prints "tollgatectl: <command>: <CODE NAME>: <message>" to stderr and returns the exit
  // code: kExitConnect for UNAVAILABLE, UNAUTHENTICATED and a deadline hit before the channel
  // ever connected; kExitServerError for everything else.
  int fail(const std::string& command, const grpc::Status& status) const;

 private:
  Client(Endpoint endpoint, std::shared_ptr<grpc::Channel> channel)
      : endpoint_(std::move(endpoint)), channel_(std::move(channel)) {}

  Endpoint endpoint_;
  std::shared_ptr<grpc::Channel> channel_;
};

// "OK", "PERMISSION_DENIED", ... for a gRPC status code.
const char* codeName(grpc::StatusCode code);

// Calls grpc.health.v1.Health/Check for the whole server. On OK `*serving` holds the serving
// status (1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN, 0 UNKNOWN).
grpc::Status checkHealth(const Client& client, int* serving);

}  // namespace tollgate::ctl
