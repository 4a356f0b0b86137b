// SessionService: role checks, then the SessionRegistry.
#include "controlplane/services/session_service.h"

namespace tollgate::controlplane::services {
namespace {

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& st) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(st);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* SessionService::List(grpc::CallbackServerContext* context,
                                               const v1::ListSessionsRequest* request,
                                               v1::ListSessionsResponse* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "SessionService/List", Access::kAnyRole, {}, &who);
  if (!st.ok()) return finish(context, st);
  for (auto& s : cp_.sessions().list(request->include_ended(), request->resource(),
                                     request->principal_id())) {
    *response->add_sessions() = std::move(s);
  }
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* SessionService::Get(grpc::CallbackServerContext* context,
                                              const v1::GetSessionRequest* request,
                                              v1::Session* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "SessionService/Get", Access::kAnyRole, {}, &who);
  if (!st.ok()) return finish(context, st);
  auto s = cp_.sessions().get(request->session_id());
  if (!s.ok()) return finish(context, toGrpc(s.status()));
  *response = *std::move(s);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* SessionService::Kill(grpc::CallbackServerContext* context,
                                               const v1::KillSessionRequest* request,
                                               v1::Session* response) {
  v1::Identity who;
  grpc::Status st =
      authz_.check(context, "SessionService/Kill", Access::kRoles, {"approver", "admin"}, &who);
  if (!st.ok()) return finish(context, st);
  auto s = cp_.sessions().kill(request->session_id(), request->reason(), who);
  if (!s.ok()) return finish(context, toGrpc(s.status()));
  *response = *std::move(s);
  return finish(context, grpc::Status::OK);
}

}  // namespace tollgate::controlplane::services
