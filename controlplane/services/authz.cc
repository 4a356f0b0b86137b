// Authz: bearer token -> identity -> role check, with EVENT_ACCESS_DENIED records.
#include "controlplane/services/authz.h"

#include <algorithm>

#include "common/log.h"

namespace tollgate::controlplane::services {
namespace {

bool hasRole(const v1::Identity& id, std::string_view role) {
  return std::any_of(id.roles().begin(), id.roles().end(),
                     [&](const std::string& r) { return r == role; });
}

std::string joinRoles(std::initializer_list<const char*> roles) {
  std::string out;
  for (const char* r : roles) {
    if (!out.empty()) out += " or ";
    out += r;
  }
  return out;
}

}  // namespace

grpc::Status toGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::string bearerToken(const grpc::CallbackServerContext* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  std::string value(it->second.data(), it->second.size());
  if (value.size() < 7) return "";
  std::string scheme = value.substr(0, 7);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "bearer ") return "";
  std::string token = value.substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(token.begin());
  return token;
}

void Authz::auditDenied(const grpc::CallbackServerContext* context, std::string_view method,
                        const v1::Identity* caller, const grpc::Status& status) const {
  v1::AuditEvent e;
  e.set_type(v1::EVENT_ACCESS_DENIED);
  if (caller != nullptr) *e.mutable_identity() = *caller;
  e.mutable_location()->set_client_addr(context->peer());
  e.mutable_location()->set_protocol("grpc");
  e.mutable_action()->set_statement_type(std::string(method));
  e.mutable_action()->set_detail(std::string(method) + " refused: " + status.error_message());
  e.mutable_result()->set_success(false);
  e.mutable_result()->set_error_code(status.error_code() == grpc::StatusCode::UNAUTHENTICATED
                                         ? "UNAUTHENTICATED"
                                     : status.error_code() == grpc::StatusCode::PERMISSION_DENIED
                                         ? "PERMISSION_DENIED"
                                         : std::to_string(static_cast<int>(status.error_code())));
  e.mutable_result()->set_error_message(status.error_message());
  e.mutable_reason()->set_decision(v1::DECISION_BLOCK);
  cp_.audit(std::move(e)).IgnoreError();  // logged by the auditor
  log::info("API call refused", {{"method", std::string(method)},
                                 {"who", caller != nullptr ? caller->principal_id() : ""},
                                 {"reason", status.error_message()}});
}

grpc::Status Authz::check(const grpc::CallbackServerContext* context, std::string_view method,
                          Access access, std::initializer_list<const char*> roles,
                          v1::Identity* caller) const {
  std::string token = bearerToken(context);
  if (token.empty()) {
    grpc::Status st(grpc::StatusCode::UNAUTHENTICATED,
                    "missing credentials: send 'authorization: Bearer <token>'");
    auditDenied(context, method, nullptr, st);
    return st;
  }
  auto id = cp_.authenticator().authenticate(token);
  if (!id.ok()) {
    grpc::StatusCode code = absl::IsUnavailable(id.status()) ? grpc::StatusCode::UNAVAILABLE
                                                             : grpc::StatusCode::UNAUTHENTICATED;
    grpc::Status st(code, "authentication failed: " + std::string(id.status().message()));
    auditDenied(context, method, nullptr, st);
    return st;
  }
  const v1::Identity& who = *id;
  grpc::Status denied;
  if (who.kind() == v1::Identity::KIND_WORKLOAD) {
    denied = grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "workload identities may not call " + std::string(method) +
                              " (workloads use the sidecar stream)");
  } else if (access == Access::kAnyRole && who.roles().empty()) {
    denied = grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        std::string(method) + " needs a Tollgate role (admin, policy-editor, approver or auditor)");
  } else if (access == Access::kRoles &&
             std::none_of(roles.begin(), roles.end(),
                          [&](const char* r) { return hasRole(who, r); })) {
    denied = grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          std::string(method) + " needs the " + joinRoles(roles) + " role");
  }
  if (!denied.ok()) {
    auditDenied(context, method, &who, denied);
    return denied;
  }
  *caller = who;
  return grpc::Status::OK;
}

}  // namespace tollgate::controlplane::services
