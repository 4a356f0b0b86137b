// Control-plane process lifecycle.
#include "controlplane/server.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <grpcpp/health_check_service_interface.h>

#include "common/log.h"
#include "controlplane/services/approval_service.h"
#include "controlplane/services/audit_service.h"
#include "controlplane/services/grant_service.h"
#include "controlplane/services/policy_service.h"
#include "controlplane/services/session_service.h"

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
  if (!clock_) clock_ = systemClock();
  if (!authenticator_) {
    auto auth = identity::Authenticator::create(config_.identity, clock_);
    if (!auth.ok()) return auth.status();
    authenticator_ = *std::move(auth);
  }
  core::ControlPlaneOptions options;
  options.data_dir = config_.data_dir;
  options.policy_file = config_.policy_file;
  options.credentials_dir = config_.credentials_dir;
  options.replica_name = config_.replica_name;
  options.webhook.url = config_.approvals_webhook_url;
  options.webhook.ca_file = config_.approvals_webhook_ca;
  if (config_.audit.backend == AuditBackend::kPostgres) options.audit_pg_dsn = config_.audit.dsn;
  options.audit_key_path = config_.audit.key_file;
  options.audit_create_key = config_.audit.createKey();
  options.audit_retention = config_.audit.retention;
  options.audit_checkpoint_every = config_.audit.checkpoint_every;
  options.clock = clock_;
  auto cp = core::ControlPlane::create(std::move(options), std::move(authenticator_));
  if (!cp.ok()) return cp.status();
  core_ = *std::move(cp);
  authz_ = std::make_unique<services::Authz>(*core_);
  services_.push_back(std::make_unique<services::PolicyService>(*core_, *authz_));
  services_.push_back(std::make_unique<services::GrantService>(*core_, *authz_));
  services_.push_back(std::make_unique<services::ApprovalService>(*core_, *authz_));
  services_.push_back(std::make_unique<services::SessionService>(*core_, *authz_));
  services_.push_back(std::make_unique<services::AuditService>(*core_, *authz_));
  for (const auto& factory : factories_) {
    auto service = factory(*core_);
    if (service) services_.push_back(std::move(service));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::string addr = config_.grpc.address.find(':') != std::string::npos
                         ? "[" + config_.grpc.address + "]:" + std::to_string(config_.grpc.port)
                         : config_.grpc.address + ":" + std::to_string(config_.grpc.port);
  builder.AddListeningPort(addr, *creds, &grpc_port_);
  for (const auto& service : services_) builder.RegisterService(service.get());
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || grpc_port_ == 0) {
    return absl::UnavailableError("gRPC listen on " + addr + " failed");
  }
  grpc_->GetHealthCheckService()->SetServingStatus(true);
  if (config_.webhook.enabled) {
    webhook_ = std::make_unique<webhook::WebhookServer>(config_.webhook);
    if (auto st = webhook_->start(); !st.ok()) return st;
    log::info("admission webhook listening",
              {{"address", config_.webhook.address + ":" + std::to_string(webhook_->port())}});
  }
  // The admin endpoint comes up last, so /healthz answering means gRPC is serving too.
  admin_ = std::make_unique<AdminServer>(registry_, [this] { return readiness(); });
  if (auto st = admin_->start(config_.admin.address, config_.admin.port); !st.ok()) return st;
  log::info("control plane started",
            {{"grpc", config_.grpc.address + ":" + std::to_string(grpc_port_)},
             {"admin", config_.admin.address + ":" + std::to_string(admin_->port())},
             {"tls", config_.grpc.tls_cert.empty() ? "off" : "on"},
             {"audit", auditDescription()}});
  return absl::OkStatus();
}

void Server::stop() {
  if (grpc_) {
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc_->Wait();
    grpc_.reset();
  }
  if (webhook_) {
    webhook_->stop();
    webhook_.reset();
  }
  if (admin_) admin_->stop();
  if (core_) core_->stop();
}

std::string Server::auditDescription() const {
  if (config_.audit.backend == AuditBackend::kSqlite) return "sqlite " + config_.data_dir;
  auto where = describePgDsn(config_.audit.dsn);  // host/db only: the DSN may hold a password
  return "postgres " + (where.ok() ? *where : std::string("(unparsable dsn)"));
}

std::string Server::readiness() const {
  if (!core_) return "control-plane stores not open";
  return grpc_ ? "" : "gRPC server not running";
}

}  // namespace tollgate::controlplane
