// Control-plane process lifecycle.
#include "controlplane/server.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <grpcpp/health_check_service_interface.h>

#include "common/log.h"

namespace tollgate::controlplane {
namespace {

absl::StatusOr<std::string> readPem(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Server::Server(ControlPlaneConfig config)
    : config_(std::move(config)), registry_(std::make_shared<prometheus::Registry>()) {}

Server::~Server() { stop(); }

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Server::credentials() const {
  if (config_.grpc.tls_cert.empty()) return grpc::InsecureServerCredentials();
  auto cert = readPem(config_.grpc.tls_cert);
  if (!cert.ok()) return cert.status();
  auto key = readPem(config_.grpc.tls_key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions opts(
      config_.grpc.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                     : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!config_.grpc.client_ca.empty()) {
    auto ca = readPem(config_.grpc.client_ca);
    if (!ca.ok()) return ca.status();
    opts.pem_root_certs = *ca;
  }
  opts.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(opts);
}

absl::Status Server::start() {
  registerBuildInfo(*registry_, "controlplane");
  auto creds = credentials();
  if (!creds.ok()) return creds.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::string addr = config_.grpc.address.find(':') != std::string::npos
                         ? "[" + config_.grpc.address + "]:" + std::to_string(config_.grpc.port)
                         : config_.grpc.address + ":" + std::to_string(config_.grpc.port);
  builder.AddListeningPort(addr, *creds, &grpc_port_);
  builder.RegisterService(&policy_service_);
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || grpc_port_ == 0) {
    return absl::UnavailableError("gRPC listen on " + addr + " failed");
  }
  grpc_->GetHealthCheckService()->SetServingStatus(true);
  // The admin endpoint comes up last, so /healthz answering means gRPC is serving too.
  admin_ = std::make_unique<AdminServer>(registry_, [this] { return readiness(); });
  if (auto st = admin_->start(config_.admin.address, config_.admin.port); !st.ok()) return st;
  log::info("control plane started",
            {{"grpc", config_.grpc.address + ":" + std::to_string(grpc_port_)},
             {"admin", config_.admin.address + ":" + std::to_string(admin_->port())},
             {"tls", config_.grpc.tls_cert.empty() ? "off" : "on"}});
  return absl::OkStatus();
}

void Server::stop() {
  if (grpc_) {
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc_->Wait();
    grpc_.reset();
  }
  if (admin_) admin_->stop();
}

std::string Server::readiness() const { return grpc_ ? "" : "gRPC server not running"; }

}  // namespace tollgate::controlplane
