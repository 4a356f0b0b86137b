// PolicyService: role checks, then the PolicyRegistry (and the stateless tester for Test).
#include "controlplane/services/policy_service.h"

namespace tollgate::controlplane::services {
namespace {

constexpr std::initializer_list<const char*> kEditors = {"policy-editor", "admin"};

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& st) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(st);
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* PolicyService::Apply(grpc::CallbackServerContext* context,
                                               const v1::ApplyPolicyRequest* request,
                                               v1::ApplyPolicyResponse* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "PolicyService/Apply", Access::kRoles, kEditors, &who);
  if (!st.ok()) return finish(context, st);
  auto result = cp_.policies().apply(*request, who);
  if (!result.ok()) return finish(context, toGrpc(result.status()));
  if (result->errors_size() > 0) {
    std::string msg = "invalid policy:";
    for (const auto& e : result->errors()) {
      msg +=
          "\n" + std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": " + e.message();
    }
    return finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg));
  }
  *response = *std::move(result);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* PolicyService::Get(grpc::CallbackServerContext* context,
                                             const v1::GetPolicyRequest* request,
                                             v1::PolicyVersion* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "PolicyService/Get", Access::kAnyRole, {}, &who);
  if (!st.ok()) return finish(context, st);
  auto v = cp_.policies().get(request->version());
  if (!v.ok()) return finish(context, toGrpc(v.status()));
  *response = *std::move(v);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* PolicyService::History(grpc::CallbackServerContext* context,
                                                 const v1::PolicyHistoryRequest* request,
                                                 v1::PolicyHistoryResponse* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "PolicyService/History", Access::kAnyRole, {}, &who);
  if (!st.ok()) return finish(context, st);
  for (auto& v : cp_.policies().history(request->limit())) *response->add_versions() = v;
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* PolicyService::Rollback(grpc::CallbackServerContext* context,
                                                  const v1::RollbackPolicyRequest* request,
                                                  v1::PolicyVersion* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "PolicyService/Rollback", Access::kRoles, kEditors, &who);
  if (!st.ok()) return finish(context, st);
  auto v = cp_.policies().rollback(request->to_version(), request->comment(), who);
  if (!v.ok()) return finish(context, toGrpc(v.status()));
  *response = *std::move(v);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* PolicyService::Test(grpc::CallbackServerContext* context,
                                              const v1::TestPolicyRequest* request,
                                              v1::TestPolicyResponse* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "PolicyService/Test", Access::kAnyRole, {}, &who);
  if (!st.ok()) return finish(context, st);
  if (!request->yaml().empty()) return finish(context, tester_.test(*request, response));
  auto current = cp_.policies().current();
  if (!current) {
    return finish(context, grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                        "no policy is stored yet: pass the policy YAML to test"));
  }
  v1::TestPolicyRequest with_yaml = *request;
  with_yaml.set_yaml(current->version.yaml());
  return finish(context, tester_.test(with_yaml, response));
}

}  // namespace tollgate::controlplane::services
