// PolicyService (tollgate.v1) over the PolicyRegistry: apply, get, history, rollback, test.
#pragma once

#include "controlplane/core/control_plane.h"
#include "controlplane/policy_tester.h"
#include "controlplane/services/authz.h"
#include "controlplane/services/grpc_headers.h"

namespace tollgate::controlplane::services {

// Apply/Rollback: policy-editor or admin. Get/History/Test: any Tollgate role. Apply with
// invalid YAML fails INVALID_ARGUMENT with one "line:column: message" per line; a stale
// expected_version fails FAILED_PRECONDITION. Test with empty yaml uses the current policy.
class PolicyService final : public v1::PolicyService::CallbackService {
 public:
  PolicyService(core::ControlPlane& cp, const Authz& authz) : cp_(cp), authz_(authz) {}

  // PolicyService::CallbackService
  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* context,
                                  const v1::ApplyPolicyRequest* request,
                                  v1::ApplyPolicyResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetPolicyRequest* request,
                                v1::PolicyVersion* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::PolicyHistoryRequest* request,
                                    v1::PolicyHistoryResponse* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* context,
                                     const v1::RollbackPolicyRequest* request,
                                     v1::PolicyVersion* response) override;
  grpc::ServerUnaryReactor* Test(grpc::CallbackServerContext* context,
                                 const v1::TestPolicyRequest* request,
                                 v1::TestPolicyResponse* response) override;

 private:
  core::ControlPlane& cp_;
  const Authz& authz_;
  PolicyTester tester_;  // the stateless dry run
};

}  // namespace tollgate::controlplane::services
