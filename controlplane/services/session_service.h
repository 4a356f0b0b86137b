// SessionService (tollgate.v1) over the SessionRegistry.
#pragma once

#include "controlplane/core/control_plane.h"
#include "controlplane/services/authz.h"
#include "controlplane/services/grpc_headers.h"

namespace tollgate::controlplane::services {

// List/Get: any Tollgate role. Kill: approver or admin (routed to the owning sidecar by the
// SessionRegistry's kill subscribers).
class SessionService final : public v1::SessionService::CallbackService {
 public:
  SessionService(core::ControlPlane& cp, const Authz& authz) : cp_(cp), authz_(authz) {}

  // SessionService::CallbackService
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListSessionsRequest* request,
                                 v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetSessionRequest* request,
                                v1::Session* response) override;
  grpc::ServerUnaryReactor* Kill(grpc::CallbackServerContext* context,
                                 const v1::KillSessionRequest* request,
                                 v1::Session* response) override;

 private:
  core::ControlPlane& cp_;
  const Authz& authz_;
};

}  // namespace tollgate::controlplane::services
