// `tollgatectl login|logout`: check a control plane and a token, then save (or forget) them.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tools/tollgatectl/client.h"
#include "tools/tollgatectl/commands.h"
#include "tools/tollgatectl/invocation.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/policy.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::ctl {
namespace {

constexpr const char* kLoginUsage =
    "usage: tollgatectl login --server HOST:PORT [--ca FILE] [--cert FILE --key FILE]\n"
    "                         (--token TOKEN | --token-file FILE) [--insecure]\n"
    "Checks that the control plane answers and accepts the token, then saves server, CA and\n"
    "token to $TOLLGATE_CONFIG, $XDG_CONFIG_HOME/tollgate/ctl.yaml or\n"
    "~/.config/tollgate/ctl.yaml (mode 0600). With --token-file the file's path is saved and\n"
    "read again on every command, so a refreshed token is picked up.\n";

// Accepted when the token authenticates, even if this identity may not read the policy.
bool tokenAccepted(grpc::StatusCode code) {
  return code == grpc::StatusCode::OK || code == grpc::StatusCode::PERMISSION_DENIED ||
         code == grpc::StatusCode::NOT_FOUND || code == grpc::StatusCode::FAILED_PRECONDITION;
}

}  // namespace

int runLogin(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("login", args, onlineFlags({}), kLoginUsage, 0, 0, &rc);
  if (!inv) return rc;
  const Endpoint& ep = inv->client().endpoint();
  if (!inv->flags().has("server") && std::getenv("TOLLGATE_SERVER") == nullptr) {
    return inv->usageError("--server is required");
  }
  if (ep.token.empty()) return inv->usageError("--token or --token-file is required");
  std::string path = configPath();
  if (path.empty()) return inv->usageError("set TOLLGATE_CONFIG or HOME to save the login");

  int serving = 0;
  grpc::Status health = checkHealth(inv->client(), &serving);
  if (!health.ok()) {
    inv->fail(health);
    return kExitConnect;
  }
  if (serving != 1) {
    std::fprintf(stderr, "tollgatectl: login: %s is not serving\n", ep.server.c_str());
    return kExitConnect;
  }
  v1::PolicyService::Stub policy(inv->client().channel());
  v1::GetPolicyRequest req;
  v1::PolicyVersion resp;
  auto ctx = inv->context();
  grpc::Status st = policy.Get(ctx.get(), req, &resp);
  if (!tokenAccepted(st.error_code())) return inv->fail(st);

  SavedLogin login;
  login.server = ep.server;
  login.ca_file = ep.ca_file;
  login.cert_file = ep.cert_file;
  login.key_file = ep.key_file;
  login.insecure = ep.insecure;
  if (!ep.token_file.empty()) {
    // Absolute, so later commands find it from any directory.
    login.token_file = std::filesystem::absolute(ep.token_file).string();
  } else {
    login.token = ep.token;
  }
  if (auto saved = saveLogin(path, login); !saved.ok()) {
    return inv->usageError(std::string(saved.message()));
  }
  std::printf("logged in to %s (%s); saved to %s\n", ep.server.c_str(),
              ep.plaintext() ? "plaintext" : "TLS", path.c_str());
  return kExitOk;
}

int runLogout(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "usage: tollgatectl logout\n");
    return kExitUsage;
  }
  std::string path = configPath();
  if (path.empty() || (::unlink(path.c_str()) != 0 && errno == ENOENT)) {
    std::printf("not logged in\n");
    return kExitOk;
  }
  if (::access(path.c_str(), F_OK) == 0) {
    std::fprintf(stderr, "tollgatectl: logout: %s: %s\n", path.c_str(), std::strerror(errno));
    return kExitUsage;
  }
  std::printf("logged out; removed %s\n", path.c_str());
  return kExitOk;
}

}  // namespace tollgate::ctl
