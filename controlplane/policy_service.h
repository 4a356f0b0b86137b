// The stateless dry run behind PolicyService.Test (services/policy_service.h serves the RPCs).
#pragma once

#include "policy/sql/analyzer.h"
// gRPC's generated callback bases hide the synchronous overload of each method by design (the
// warning points into the generated header, so that is where it is silenced).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/policy.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::controlplane {

// Test compiles the given policy YAML and reports, per statement, what the engine decides and
// why, and how a sample row would be masked. Stateless and thread-safe. Not registered with
// the server (it has no authorisation): services::PolicyService calls test() after its role
// check. Apply, Get, History and Rollback answer UNIMPLEMENTED here.
class PolicyServiceImpl final : public v1::PolicyService::CallbackService {
 public:
  // PolicyService::CallbackService
  grpc::ServerUnaryReactor* Test(grpc::CallbackServerContext* context,
                                 const v1::TestPolicyRequest* request,
                                 v1::TestPolicyResponse* response) override;

  // The work behind Test, for tests: OK or INVALID_ARGUMENT / NOT_FOUND with a clear message.
  grpc::Status test(const v1::TestPolicyRequest& request, v1::TestPolicyResponse* response) const;

 private:
  policy::SqlAnalyzer analyzer_;
};

}  // namespace tollgate::controlplane
