// Authentication and role checks for the human-facing gRPC services; every refusal is audited.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "controlplane/core/control_plane.h"
#include "tollgate/v1/identity.pb.h"

namespace tollgate::controlplane::services {

// Who may call an RPC.
enum class Access {
  // Any human or bootstrap principal, even without a Tollgate role (GrantService.Request).
  kAnyHuman,
  // A human holding at least one Tollgate role (admin, policy-editor, approver, auditor).
  kAnyRole,
  // A human holding one of the listed roles.
  kRoles,
};

// The absl status as a gRPC status (same code and message).
grpc::Status toGrpc(const absl::Status& status);

// Reads `authorization: Bearer <token>` from the call metadata, authenticates it with the
// control plane's Authenticator and checks access. Workload identities are refused everywhere
// (they use the SidecarService stream). The bootstrap identity holds admin. Failures:
// UNAUTHENTICATED (no/bad token; the message says why without quoting the token) or
// PERMISSION_DENIED (naming the roles needed), each audited as EVENT_ACCESS_DENIED with the
// method, the caller when known, the peer address and the reason. Thread-safe.
class Authz {
 public:
  explicit Authz(core::ControlPlane& cp) : cp_(cp) {}

  // `method` like "PolicyService/Apply"; `roles` used with Access::kRoles.
  grpc::Status check(const grpc::CallbackServerContext* context, std::string_view method,
                     Access access, std::initializer_list<const char*> roles,
                     v1::Identity* caller) const;

  // Audits an EVENT_ACCESS_DENIED for `method` (also used by services for refusals decided
  // after the role check, e.g. voting on one's own request).
  void auditDenied(const grpc::CallbackServerContext* context, std::string_view method,
                   const v1::Identity* caller, const grpc::Status& status) const;

 private:
  core::ControlPlane& cp_;
};

// The bearer token of a call: empty when the header is missing or not "Bearer <token>".
std::string bearerToken(const grpc::CallbackServerContext* context);

}  // namespace tollgate::controlplane::services
