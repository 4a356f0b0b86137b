// The stateless dry run behind PolicyService.Test (services/policy_service.h serves the RPC).
#pragma once

#include "grpcpp/support/status.h"
#include "policy/sql/analyzer.h"
#include "tollgate/v1/policy.pb.h"

namespace tollgate::controlplane {

// The dry run behind PolicyService.Test: compiles the given policy YAML and reports, per
// statement, what the engine decides and why, and how a sample row would be masked. Stateless
// and thread-safe. It checks no roles: services::PolicyService calls it after its own check.
class PolicyTester {
 public:
  // OK, or INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION with a clear message.
  grpc::Status test(const v1::TestPolicyRequest& request, v1::TestPolicyResponse* response) const;

 private:
  policy::SqlAnalyzer analyzer_;
};

}  // namespace tollgate::controlplane
