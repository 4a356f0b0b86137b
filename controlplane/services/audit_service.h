// AuditService (tollgate.v1) over the AuditStore; every call is itself audited.
#pragma once

#include "controlplane/core/control_plane.h"
#include "controlplane/services/authz.h"
#include "controlplane/services/grpc_headers.h"

namespace tollgate::controlplane::services {

// Every RPC: auditor or admin, and every accepted call appends EVENT_AUDIT_ACCESS naming the
// method and the filter (refused ones are EVENT_ACCESS_DENIED). Export streams the matching
// records in sequence order, reading pages of 500 between writes (bounded memory).
class AuditService final : public v1::AuditService::CallbackService {
 public:
  AuditService(core::ControlPlane& cp, const Authz& authz) : cp_(cp), authz_(authz) {}

  // AuditService::CallbackService
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const v1::SearchAuditRequest* request,
                                   v1::SearchAuditResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetAuditEventRequest* request,
                                v1::AuditEvent* response) override;
  grpc::ServerWriteReactor<v1::AuditEvent>* Export(grpc::CallbackServerContext* context,
                                                   const v1::ExportAuditRequest* request) override;
  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* context,
                                   const v1::VerifyAuditRequest* request,
                                   v1::VerifyAuditResponse* response) override;

 private:
  // Role check plus the EVENT_AUDIT_ACCESS record.
  grpc::Status admit(grpc::CallbackServerContext* context, const char* method,
                     const std::string& detail, v1::Identity* who);

  core::ControlPlane& cp_;
  const Authz& authz_;
};

}  // namespace tollgate::controlplane::services
