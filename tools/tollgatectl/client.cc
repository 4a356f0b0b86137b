// Control-plane connection: saved login file, endpoint resolution, channel and call contexts.
#include "tools/tollgatectl/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <grpcpp/generic/generic_stub.h>
#include <yaml-cpp/yaml.h>

#include "common/daemon.h"
#include "common/yaml_reader.h"

namespace tollgate::ctl {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

absl::StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// mkdir -p with mode 0700 for every directory it creates.
absl::Status makeParents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(dir +
                                           ": cannot create directory: " + std::strerror(errno));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool Endpoint::plaintext() const {
  if (insecure) return true;
  if (!ca_file.empty() || !cert_file.empty()) return false;
  std::string host;
  int port = 0;
  return splitHostPort(server, &host, &port) && isLoopbackHost(host);
}

std::string configPath() {
  if (std::string p = env("TOLLGATE_CONFIG"); !p.empty()) return p;
  if (std::string x = env("XDG_CONFIG_HOME"); !x.empty()) return x + "/tollgate/ctl.yaml";
  if (std::string h = env("HOME"); !h.empty()) return h + "/.config/tollgate/ctl.yaml";
  return "";
}

absl::StatusOr<std::optional<SavedLogin>> loadSavedLogin(const std::string& path) {
  if (path.empty()) return std::optional<SavedLogin>();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<SavedLogin>();
    return absl::FailedPreconditionError(path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::FailedPreconditionError(path + ": permissions " + mode +
                                         " are too open: it holds a token; run chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(path + ": owned by another user; refusing to use it");
  }
  auto root = loadYamlFile(path);
  if (!root.ok()) return root.status();
  YamlErrors errors(path);
  SavedLogin login;
  YamlMap m(*root, errors, "tollgatectl config");
  login.server = m.str("server").value_or("");
  login.ca_file = m.str("ca").value_or("");
  login.cert_file = m.str("cert").value_or("");
  login.key_file = m.str("key").value_or("");
  login.token = m.str("token").value_or("");
  login.token_file = m.str("tokenFile").value_or("");
  login.insecure = m.boolean("insecure").value_or(false);
  m.finish();
  if (!errors.empty()) return errors.toStatus();
  return std::optional<SavedLogin>(login);
}

absl::Status saveLogin(const std::string& path, const SavedLogin& login) {
  if (auto st = makeParents(path); !st.ok()) return st;
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << YAML::DoubleQuoted << login.server;
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) out << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
  };
  put("ca", login.ca_file);
  put("cert", login.cert_file);
  put("key", login.key_file);
  put("token", login.token);
  put("tokenFile", login.token_file);
  if (login.insecure) out << YAML::Key << "insecure" << YAML::Value << true;
  out << YAML::EndMap;
  std::string text =
      std::string("# tollgatectl login (holds a token: keep mode 0600)\n") + out.c_str() + "\n";
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());  // created with mode 0600
  if (fd < 0) {
    return absl::FailedPreconditionError(path + ": cannot write: " + std::strerror(errno));
  }
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return absl::FailedPreconditionError(path + ": cannot write: " + why);
  }
  return absl::OkStatus();
}

std::vector<FlagSpec> onlineFlags(std::initializer_list<FlagSpec> extra) {
  std::vector<FlagSpec> specs(extra);
  const FlagSpec common[] = {
      {"server", true, false, "control plane HOST:PORT (env TOLLGATE_SERVER, else the login)"},
      {"ca", true, false, "PEM CA that signed the control plane's TLS certificate"},
      {"cert", true, false, "PEM client certificate (mTLS)"},
      {"key", true, false, "PEM client key (mTLS)"},
      {"token", true, false, "bearer token (env TOLLGATE_TOKEN, else the login)"},
      {"token-file", true, false, "file holding the bearer token"},
      {"insecure", false, false, "plaintext even though the server is not on loopback"},
      {"timeout", true, false, "deadline per call, e.g. 10s (default), 1m"},
      {"json", false, false, "protobuf JSON: one object per line"},
      {"help", false, false, "show this help"},
  };
  specs.insert(specs.end(), std::begin(common), std::end(common));
  return specs;
}

absl::StatusOr<std::string> readTokenFile(const std::string& path) {
  auto text = readFile(path);
  if (!text.ok()) return text.status();
  std::string token = trim(*text);
  if (token.empty()) return absl::InvalidArgumentError(path + ": token file is empty");
  return token;
}

absl::StatusOr<Endpoint> resolveEndpoint(const Flags& flags) {
  auto saved = loadSavedLogin(configPath());
  if (!saved.ok()) return absl::InvalidArgumentError(saved.status().message());
  Endpoint ep;
  ep.server = flags.getOr("server", env("TOLLGATE_SERVER"));
  bool use_saved = saved->has_value() && (ep.server.empty() || ep.server == (*saved)->server);
  if (use_saved) {
    const SavedLogin& s = **saved;
    ep.server = s.server;
    ep.ca_file = s.ca_file;
    ep.cert_file = s.cert_file;
    ep.key_file = s.key_file;
    ep.token = s.token;
    ep.token_file = s.token_file;
    ep.insecure = s.insecure;
  }
  if (ep.server.empty()) {
    return absl::InvalidArgumentError(
        "no control plane: run `tollgatectl login --server HOST:PORT ...`, or give --server or "
        "TOLLGATE_SERVER");
  }
  std::string host;
  int port = 0;
  if (!splitHostPort(ep.server, &host, &port)) {
    return absl::InvalidArgumentError("server must be HOST:PORT, got '" + ep.server + "'");
  }
  if (auto ca = flags.get("ca")) ep.ca_file = *ca;
  if (auto c = flags.get("cert")) ep.cert_file = *c;
  if (auto k = flags.get("key")) ep.key_file = *k;
  if (ep.cert_file.empty() != ep.key_file.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together");
  }
  if (flags.has("insecure")) ep.insecure = true;
  if (std::string t = env("TOLLGATE_TOKEN"); !t.empty()) {
    ep.token = t;
    ep.token_file.clear();
  }
  if (flags.has("token") && flags.has("token-file")) {
    return absl::InvalidArgumentError("give --token or --token-file, not both");
  }
  if (auto t = flags.get("token")) {
    ep.token = *t;
    ep.token_file.clear();
  }
  if (auto f = flags.get("token-file")) ep.token_file = *f;
  if (!ep.token_file.empty()) {
    auto t = readTokenFile(ep.token_file);
    if (!t.ok()) return t.status();
    ep.token = *t;
  }
  if (auto t = flags.get("timeout")) {
    auto secs = parseDurationSeconds(*t);
    if (!secs || *secs <= 0) {
      return absl::InvalidArgumentError("--timeout must be a duration like 10s or 1m, got '" + *t +
                                        "'");
    }
    ep.timeout = std::chrono::seconds(*secs);
  }
  return ep;
}

absl::StatusOr<Client> Client::create(Endpoint endpoint) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (endpoint.plaintext()) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions opts;
    if (!endpoint.ca_file.empty()) {
      auto ca = readFile(endpoint.ca_file);
      if (!ca.ok()) return ca.status();
      opts.pem_root_certs = *ca;
    }
    if (!endpoint.cert_file.empty()) {
      auto cert = readFile(endpoint.cert_file);
      if (!cert.ok()) return cert.status();
      auto key = readFile(endpoint.key_file);
      if (!key.ok()) return key.status();
      opts.pem_cert_chain = *cert;
      opts.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(opts);
  }
  auto channel = grpc::CreateChannel(endpoint.server, creds);
  return Client(std::move(endpoint), std::move(channel));
}

std::unique_ptr<grpc::ClientContext> Client::context(bool deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!endpoint_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + endpoint_.token);
  if (deadline) ctx->set_deadline(std::chrono::system_clock::now() + endpoint_.timeout);
  return ctx;
}

int Client::fail(const std::string& command, const grpc::Status& status) const {
  grpc::StatusCode code = status.error_code();
  bool connected = channel_->GetState(false) == GRPC_CHANNEL_READY;
  std::string message = status.error_message();
  if (code == grpc::StatusCode::UNAVAILABLE || (code == grpc::DEADLINE_EXCEEDED && !connected)) {
    message = "cannot reach " + endpoint_.server + ": " + message;
  }
  std::fprintf(stderr, "tollgatectl: %s: %s: %s\n", command.c_str(), codeName(code),
               message.c_str());
  if (code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::UNAUTHENTICATED ||
      (code == grpc::StatusCode::DEADLINE_EXCEEDED && !connected)) {
    return kExitConnect;
  }
  return kExitServerError;
}

const char* codeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

grpc::Status checkHealth(const Client& client, int* serving) {
  grpc::GenericStub stub(client.channel());
  auto ctx = client.context();
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);  // HealthCheckRequest{service: ""}
  grpc::ByteBuffer response;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(ctx.get(), "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse field 1 (status), varint: tag 0x08. An empty message means UNKNOWN.
  *serving = bytes.size() >= 2 && bytes[0] == 0x08 ? bytes[1] : 0;
  return status;
}

}  // namespace tollgate::ctl
