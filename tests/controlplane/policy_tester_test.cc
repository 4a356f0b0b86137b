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

// Review (session 23): a policy sent to Test (any role may call it) named one of the control
// plane's own files as its hash key; the masked value was an HMAC keyed with that file (the
// database password file), which allows guessing the secret offline. The control plane does
// not read hash keys: sidecars hash with theirs, the dry run with a throwaway one.
TEST_CASE("Test hashes with a throwaway key, never with a file or variable the policy names") {
  tollgate::testing::TempDir dir;
  const std::string secret_file = dir.write("db-password", "app:Secret-Password-123456");
  ::setenv("TOLLGATE_TEST_SECRET", "another-Secret-Password-123456", 1);
  for (const std::string& keys :
       {"{hashKeyFile: " + secret_file + "}", std::string("{hashKeyEnv: TOLLGATE_TEST_SECRET}")}) {
    const std::string yaml =
        "version: 1\n"
        "resources:\n"
        "  - name: payments-db\n"
        "    protocol: postgres\n"
        "    upstream: {host: 127.0.0.1, port: 5432, tls: disable}\n"
        "masking:\n"
        "  keys: " +
        keys +
        "\n"
        "  rules:\n"
        "    - {name: h, columns: [token], action: {type: hash}}\n";
    auto masked = [&] {
      PolicyTester tester;
      v1::TestPolicyRequest req;
      req.set_yaml(yaml);
      req.set_resource("payments-db");
      req.set_subject("system:serviceaccount:payments-ci:nightly");
      req.set_role("read");
      req.set_sql("SELECT 1");
      req.add_columns("token");
      req.add_values("guess-1");
      v1::TestPolicyResponse resp;
      grpc::Status st = tester.test(req, &resp);
      INFO(st.error_message());
      REQUIRE(st.ok());
      REQUIRE(resp.masked_values_size() == 1);
      return resp.masked_values(0);
    };
    INFO(keys);
    const std::string first = masked();
    CHECK(first != "guess-1");
    // A key read from the file or variable would give the same hash every time.
    CHECK(masked() != first);
  }
  ::unsetenv("TOLLGATE_TEST_SECRET");
}
