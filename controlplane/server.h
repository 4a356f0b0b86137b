// The control-plane process: core domain objects, gRPC services (with health), admin endpoint.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "common/admin_server.h"
#include "controlplane/config.h"
#include "controlplane/core/control_plane.h"
#include "controlplane/services/authz.h"
#include "controlplane/webhook/webhook_server.h"
#include "prometheus/registry.h"

namespace tollgate::controlplane {

// Builds one extra gRPC service (e.g. the SidecarService stream server) once the core exists.
// The service is owned by the Server and destroyed after the gRPC server has shut down.
using ServiceFactory = std::function<std::unique_ptr<grpc::Service>(core::ControlPlane&)>;

// start() builds the core (stores, managers, authenticator), registers the human-facing
// services plus every factory's service, and binds everything; stop() shuts the gRPC server
// down (in-flight RPCs get a short grace period), stops the core and the admin endpoint.
// Methods are called from main's thread.
class Server {
 public:
  explicit Server(ControlPlaneConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Call before start(): adds a service built from the core when start() runs.
  void addServiceFactory(ServiceFactory factory) { factories_.push_back(std::move(factory)); }
  // For tests: use this authenticator instead of building one from config.identity, and/or
  // this clock instead of the system clock.
  void setAuthenticator(std::unique_ptr<identity::Authenticator> authenticator) {
    authenticator_ = std::move(authenticator);
  }
  void setClock(ClockPtr clock) { clock_ = std::move(clock); }

  absl::Status start();
  void stop();

  int grpcPort() const { return grpc_port_; }
  int adminPort() const { return admin_ ? admin_->port() : 0; }
  int webhookPort() const { return webhook_ ? webhook_->port() : 0; }
  // The core; valid after a successful start() until destruction.
  core::ControlPlane& controlPlane() { return *core_; }

 private:
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials() const;
  std::string readiness() const;
  // The audit backend for logs: "sqlite <dir>" or "postgres host=... dbname=..." (no password).
  std::string auditDescription() const;

  ControlPlaneConfig config_;
  ClockPtr clock_;
  std::unique_ptr<identity::Authenticator> authenticator_;
  std::vector<ServiceFactory> factories_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<webhook::WebhookServer> webhook_;
  std::unique_ptr<core::ControlPlane> core_;
  std::unique_ptr<services::Authz> authz_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> grpc_;
  int grpc_port_ = 0;
};

}  // namespace tollgate::controlplane
