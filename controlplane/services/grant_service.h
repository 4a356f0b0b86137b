// GrantService (tollgate.v1) over the GrantManager.
#pragma once

#include "controlplane/core/control_plane.h"
#include "controlplane/services/authz.h"
#include "controlplane/services/grpc_headers.h"

namespace tollgate::controlplane::services {

// Request: any human (the core decides whether naming a workload needs approver/admin).
// Approve/Deny/Revoke: approver or admin (never the requester: enforced by the core and
// audited as access denied). List: any Tollgate role.
class GrantService final : public v1::GrantService::CallbackService {
 public:
  GrantService(core::ControlPlane& cp, const Authz& authz) : cp_(cp), authz_(authz) {}

  // GrantService::CallbackService
  grpc::ServerUnaryReactor* Request(grpc::CallbackServerContext* context,
                                    const v1::RequestGrantRequest* request,
                                    v1::GrantDecision* response) override;
  grpc::ServerUnaryReactor* Approve(grpc::CallbackServerContext* context,
                                    const v1::GrantIdRequest* request,
                                    v1::Grant* response) override;
  grpc::ServerUnaryReactor* Deny(grpc::CallbackServerContext* context,
                                 const v1::GrantIdRequest* request, v1::Grant* response) override;
  grpc::ServerUnaryReactor* Revoke(grpc::CallbackServerContext* context,
                                   const v1::GrantIdRequest* request, v1::Grant* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListGrantsRequest* request,
                                 v1::ListGrantsResponse* response) override;

 private:
  grpc::ServerUnaryReactor* vote(grpc::CallbackServerContext* context, const char* method,
                                 const v1::GrantIdRequest& request, bool approve,
                                 v1::Grant* response);

  core::ControlPlane& cp_;
  const Authz& authz_;
};

}  // namespace tollgate::controlplane::services
