// The control-plane process: gRPC server (with the standard health service) and admin endpoint.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "common/admin_server.h"
#include "controlplane/config.h"
#include "controlplane/policy_service.h"
#include "prometheus/registry.h"

namespace tollgate::controlplane {

// start() binds everything; stop() shuts the gRPC server down (in-flight RPCs get a short
// grace period) and the admin endpoint. Methods are called from main's thread.
class Server {
 public:
  explicit Server(ControlPlaneConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  absl::Status start();
  void stop();

  int grpcPort() const { return grpc_port_; }
  int adminPort() const { return admin_ ? admin_->port() : 0; }

 private:
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials() const;
  std::string readiness() const;

  ControlPlaneConfig config_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<AdminServer> admin_;
  PolicyServiceImpl policy_service_;
  std::unique_ptr<grpc::Server> grpc_;
  int grpc_port_ = 0;
};

}  // namespace tollgate::controlplane
