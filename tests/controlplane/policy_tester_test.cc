// The dry run behind PolicyService.Test (the RPC itself, with its role check, is exercised by
// services_authz_test).
#include "controlplane/policy_tester.h"

#include <catch2/catch_test_macros.hpp>
#include <fstream>
#include <sstream>

#include "tests/support/test_support.h"

using tollgate::controlplane::PolicyTester;
namespace v1 = tollgate::v1;

namespace {
std::string examplePolicy() {
  std::ifstream in(tollgate::testing::sourcePath("examples/policy.yaml"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("Test decides statements and masks a sample row") {
  PolicyTester tester;

  v1::TestPolicyRequest req;
  req.set_yaml(examplePolicy());
  req.set_resource("payments-db");
  req.set_subject("system:serviceaccount:payments-ci:nightly");
  req.set_sql("SELECT pan FROM cards WHERE id = 42; DROP TABLE cards");
  req.add_columns("pan");
  req.add_values("4111 1111 1111 1111");
  req.add_columns("cvv");
  req.add_values("123");
  req.add_columns("note");
  req.add_values("ts 1732550400000");
  v1::TestPolicyResponse resp;
  grpc::Status st = tester.test(req, &resp);
  REQUIRE(st.ok());
  REQUIRE(resp.statements_size() == 2);
  CHECK(resp.statements(0).decision() == v1::DECISION_ALLOW);
  CHECK(resp.statements(0).statement_class() == "read");
  CHECK(resp.statements(0).normalized().find("42") == std::string::npos);
  CHECK(resp.statements(1).decision() == v1::DECISION_BLOCK);
  CHECK(resp.statements(1).statement_type() == "drop");
  REQUIRE(resp.masked_values_size() == 3);
  CHECK(resp.masked_values(0) == "4111 11** **** 1111");
  CHECK(resp.masked_values(1) == "***");
  CHECK(resp.masked_values(2) == "ts 1732550400000");
  CHECK(resp.masking_rules(0) == "pan");
  CHECK(resp.masking_rules(1) == "cvv");
  CHECK(resp.masking_rules(2).empty());
}

TEST_CASE("Test refuses bad input with clear errors") {
  PolicyTester service;
  v1::TestPolicyResponse resp;
  v1::TestPolicyRequest req;
  CHECK(service.test(req, &resp).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  req.set_yaml("resources: [\n");
  auto st = service.test(req, &resp);
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().rfind("policy.yaml:", 0) == 0);
  req.set_yaml(examplePolicy());
  req.set_resource("nope");
  CHECK(service.test(req, &resp).error_code() == grpc::StatusCode::NOT_FOUND);
  req.set_resource("payments-db");
  req.set_role("root");
  CHECK(service.test(req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  req.set_role("read");
  req.add_columns("a");
  CHECK(service.test(req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}
