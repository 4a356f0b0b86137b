// GrantService: role checks, then the GrantManager.
#include "controlplane/services/grant_service.h"

namespace tollgate::controlplane::services {
namespace {

constexpr std::initializer_list<const char*> kApprovers = {"approver", "admin"};

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& st) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(st);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* GrantService::Request(grpc::CallbackServerContext* context,
                                                const v1::RequestGrantRequest* request,
                                                v1::GrantDecision* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "GrantService/Request", Access::kAnyHuman, {}, &who);
  if (!st.ok()) return finish(context, st);
  if (request->duration().seconds() < 0) {
    return finish(context,
                  grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "duration must be positive"));
  }
  if (!v1::Role_IsValid(request->role())) {
    return finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                        "unknown role " + std::to_string(request->role())));
  }
  core::GrantRequestInput in;
  in.requester = who;
  in.subject = request->subject();
  in.resource = request->resource();
  in.role = request->role();
  // Rounded up to whole seconds (the rule's maximum caps it; no overflow at INT64_MAX).
  const int64_t seconds = request->duration().seconds();
  in.duration = std::chrono::seconds(
      seconds + (request->duration().nanos() > 0 && seconds < INT64_MAX ? 1 : 0));
  in.reason = request->reason();
  auto decision = cp_.grants().request(in);
  if (!decision.ok()) return finish(context, toGrpc(decision.status()));
  *response = *std::move(decision);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrantService::vote(grpc::CallbackServerContext* context,
                                             const char* method, const v1::GrantIdRequest& request,
                                             bool approve, v1::Grant* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, method, Access::kRoles, kApprovers, &who);
  if (!st.ok()) return finish(context, st);
  auto g = approve ? cp_.grants().approve(request.grant_id(), who, request.comment())
                   : cp_.grants().deny(request.grant_id(), who, request.comment());
  if (!g.ok()) {
    grpc::Status err = toGrpc(g.status());
    if (absl::IsPermissionDenied(g.status())) authz_.auditDenied(context, method, &who, err);
    return finish(context, err);
  }
  *response = *std::move(g);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrantService::Approve(grpc::CallbackServerContext* context,
                                                const v1::GrantIdRequest* request,
                                                v1::Grant* response) {
  return vote(context, "GrantService/Approve", *request, true, response);
}

grpc::ServerUnaryReactor* GrantService::Deny(grpc::CallbackServerContext* context,
                                             const v1::GrantIdRequest* request,
                                             v1::Grant* response) {
  return vote(context, "GrantService/Deny", *request, false, response);
}

grpc::ServerUnaryReactor* GrantService::Revoke(grpc::CallbackServerContext* context,
                                               const v1::GrantIdRequest* request,
                                               v1::Grant* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "GrantService/Revoke", Access::kRoles, kApprovers, &who);
  if (!st.ok()) return finish(context, st);
  auto g = cp_.grants().revoke(request->grant_id(), who, request->comment());
  if (!g.ok()) return finish(context, toGrpc(g.status()));
  *response = *std::move(g);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GrantService::List(grpc::CallbackServerContext* context,
                                             const v1::ListGrantsRequest* request,
                                             v1::ListGrantsResponse* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "GrantService/List", Access::kAnyRole, {}, &who);
  if (!st.ok()) return finish(context, st);
  for (auto& g :
       cp_.grants().list(request->subject(), request->resource(), request->include_inactive())) {
    *response->add_grants() = std::move(g);
  }
  return finish(context, grpc::Status::OK);
}

}  // namespace tollgate::controlplane::services
