// ApprovalService (tollgate.v1) over the ApprovalManager, with the Watch stream.
#pragma once

#include "controlplane/core/control_plane.h"
#include "controlplane/services/authz.h"
#include "controlplane/services/grpc_headers.h"

namespace tollgate::controlplane::services {

// Every RPC: approver or admin. Approve/Deny apply the core's voting rules (a refusal such as
// voting on one's own request is PERMISSION_DENIED and audited as access denied). Watch sends
// the pending approvals, then every creation and state change, until the caller cancels.
class ApprovalService final : public v1::ApprovalService::CallbackService {
 public:
  ApprovalService(core::ControlPlane& cp, const Authz& authz) : cp_(cp), authz_(authz) {}

  // ApprovalService::CallbackService
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListApprovalsRequest* request,
                                 v1::ListApprovalsResponse* response) override;
  grpc::ServerUnaryReactor* Approve(grpc::CallbackServerContext* context,
                                    const v1::ApprovalVoteRequest* request,
                                    v1::Approval* response) override;
  grpc::ServerUnaryReactor* Deny(grpc::CallbackServerContext* context,
                                 const v1::ApprovalVoteRequest* request,
                                 v1::Approval* response) override;
  grpc::ServerWriteReactor<v1::Approval>* Watch(grpc::CallbackServerContext* context,
                                                const v1::WatchApprovalsRequest* request) override;

 private:
  grpc::ServerUnaryReactor* vote(grpc::CallbackServerContext* context, const char* method,
                                 const v1::ApprovalVoteRequest& request, bool approve,
                                 v1::Approval* response);

  core::ControlPlane& cp_;
  const Authz& authz_;
};

}  // namespace tollgate::controlplane::services
