// Runs the built tollgatectl binary: policy check/test exit codes and JSON output against
// examples/policy.yaml (bypass attempts included), and masking of card numbers via `mask`.
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace tollgate::testing {
namespace {

const std::string kExample = sourcePath("examples/policy.yaml");

RunResult ctl(const std::vector<std::string>& args, const std::string& input = "") {
  std::vector<std::string> argv = {binPath("tollgatectl")};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input);
}

// One parsed JSON object per output line.
std::vector<nlohmann::json> jsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

std::vector<nlohmann::json> policyTest(const std::string& sql, const std::string& role = "",
                                       const std::string& subject = "payments-ci/loader") {
  std::vector<std::string> args = {"policy",      "test",      "--policy", kExample, "--resource",
                                   "payments-db", "--subject", subject,    "--sql",  sql};
  if (!role.empty()) {
    args.push_back("--role");
    args.push_back(role);
  }
  RunResult r = ctl(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return jsonLines(r.out);
}

TEST_CASE("policy check accepts the example and counts its parts") {
  RunResult r = ctl({"policy", "check", kExample});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == kExample + ": ok (1 resources, 2 access rules, 5 guardrails, 2 masking rules)\n");
}

TEST_CASE("policy check reports every error with its position and exits 1") {
  TempDir dir;
  std::string bad = dir.write("bad.yaml", R"(version: 1
resources:
  - name: db
    protocol: postgress
    upstream: {host: h, port: 5432, tsl: disable}
guardrails:
  - name: g
    match: {}
    action: block
)");
  RunResult r = ctl({"policy", "check", bad});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(r.err.find(bad + ":4:15: resource.protocol must be one of") != std::string::npos);
  CHECK(r.err.find(bad + ":5:37: unknown key 'tsl' in upstream") != std::string::npos);
  CHECK(r.err.find(bad + ":8:12: guardrail 'g': match must not be empty") != std::string::npos);
}

TEST_CASE("usage errors exit 2") {
  CHECK(ctl({"policy"}).exit_code == 2);
  CHECK(ctl({"policy", "frobnicate"}).exit_code == 2);
  CHECK(ctl({"policy", "check"}).exit_code == 2);
  CHECK(ctl({"policy", "test", "--policy", kExample, "--sql", "SELECT 1"}).exit_code == 2);
  CHECK(ctl({"policy", "test", "--policy", kExample, "--resource", "payments-db", "--sql", "x",
             "--role", "root"})
            .exit_code == 2);
  CHECK(ctl({"policy", "test", "--policy", kExample, "--resource", "nope", "--sql", "SELECT 1"})
            .exit_code == 2);
  CHECK(ctl({"policy", "test", "--bogus"}).exit_code == 2);
  CHECK(ctl({"mask"}).exit_code == 2);
  CHECK(ctl({"mask", "--policy", kExample, "--resource", "nope"}).exit_code == 2);
}

TEST_CASE("policy test on an invalid policy exits 1") {
  TempDir dir;
  std::string bad = dir.write("bad.yaml", "version: 1\nresources: 5\n");
  CHECK(
      ctl({"policy", "test", "--policy", bad, "--resource", "db", "--sql", "SELECT 1"}).exit_code ==
      1);
  CHECK(ctl({"mask", "--policy", bad}, "x\n").exit_code == 1);
}

TEST_CASE("policy test prints one JSON object per statement") {
  auto lines = policyTest("SELECT * FROM cards WHERE id = 42");
  REQUIRE(lines.size() == 1);
  const auto& j = lines[0];
  CHECK(j["decision"] == "allow");
  CHECK(j["rule"] == "role:read");
  CHECK(j["role"] == "read");  // from the ci-read access rule
  CHECK(j["role_source"] == "access:ci-read");
  CHECK(j["class"] == "read");
  CHECK(j["type"] == "select");
  CHECK(j["reads"] == nlohmann::json::array({"cards"}));
  CHECK(j["writes"] == nlohmann::json::array());
  CHECK(j["normalized"] == "SELECT * FROM cards WHERE id = $1");
  CHECK(j["fingerprint"].get<std::string>().size() == 16);
  // No access rule for this subject: the role defaults to read.
  auto other = policyTest("SELECT 1", "", "elsewhere/job");
  CHECK(other[0]["role"] == "read");
  CHECK(other[0]["role_source"] == "default");
}

// Every way of writing a forbidden statement must still be blocked under a read grant.
TEST_CASE("bypass attempts are blocked") {
  struct Attempt {
    const char* sql;
    const char* rule;  // the deciding rule
  };
  for (const auto& a : std::initializer_list<Attempt>{
           {"DROP TABLE cards", "role:read"},
           {"/* harmless */ DrOp TaBlE \"cards\"", "role:read"},
           {"-- comment\nDELETE FROM cards", "role:read"},
           {"delete from \"public\".\"cards\"", "role:read"},
           {"SELECT 1; DROP TABLE cards", "role:read"},
           {"SELECT $$;$$; DELETE FROM cards", "role:read"},
           {"SELECT $tag$ DROP TABLE x $tag$, 1; UPDATE cards SET pan = 'x'", "role:read"},
           {"WITH x AS (DELETE FROM cards RETURNING *) SELECT * FROM x", "role:read"},
           {"SELECT pg_read_file('/etc/passwd')", "role:read"},
           {"SET ROLE postgres", "role:read"},
           {"COPY cards TO STDOUT", "guardrail:no-card-export"},
           {"copy (select * from public.cards) to stdout", "guardrail:no-card-export"},
           {"SELEC * FROM cards", "parse-error"},
       }) {
    INFO(a.sql);
    auto lines = policyTest(a.sql);
    REQUIRE_FALSE(lines.empty());
    bool found = false;
    for (const auto& j : lines) {
      CHECK(j["query_decision"] == "block");
      if (j["decision"] == "block") {
        found = true;
        CHECK(j["rule"] == a.rule);
        CHECK(j["message"].get<std::string>().find("blocked by rule") == 0);
      }
    }
    CHECK(found);
  }
}

TEST_CASE("guardrails on top of a write grant: DDL blocked, unbounded DELETE reviewed") {
  auto ddl = policyTest("ALTER TABLE cards ADD COLUMN x int", "write");
  CHECK(ddl[0]["decision"] == "block");
  auto admin_ddl = policyTest("DROP TABLE cards", "admin");
  CHECK(admin_ddl[0]["decision"] == "block");
  CHECK(admin_ddl[0]["rule"] == "guardrail:no-ddl");
  CHECK(admin_ddl[0]["message"] == "blocked by rule \"no-ddl\": DDL is not allowed from jobs");

  for (const char* sql : {"DELETE FROM cards", "update cards set status = 'x'",
                          "WITH x AS (DELETE FROM cards RETURNING *) SELECT * FROM x"}) {
    INFO(sql);
    auto v = policyTest(sql, "write");
    REQUIRE(v.size() == 1);
    CHECK(v[0]["decision"] == "review");
    CHECK(v[0]["rule"] == "guardrail:unbounded-delete");
    CHECK(v[0]["approvers"]["group"] == "dba");
    CHECK(v[0]["approvers"]["count"] == 1);
    CHECK(v[0]["approvers"]["timeout_seconds"] == 300);
  }
  auto bounded = policyTest("DELETE FROM cards WHERE id = 7", "write");
  CHECK(bounded[0]["decision"] == "allow");
  auto fn = policyTest("SELECT dblink_exec('host=x', 'drop table y')", "admin");
  CHECK(fn[0]["decision"] == "block");
  CHECK(fn[0]["rule"] == "guardrail:no-dangerous-functions");
}

TEST_CASE("mask rewrites card numbers in several formats and leaves look-alikes alone") {
  const std::string input =
      "plain 4111111111111111 end\n"
      "spaced 4111 1111 1111 1111\n"
      "dashed 5555-5555-5555-4444\n"
      "amex 378282246310005\n"
      "json {\"pan\":\"6011111111111117\"}\n"
      "not-luhn 4111111111111112\n"
      "order 1234567890123456\n"
      "phone +1 415 555 0100\n"
      "ts 20261125174000123\n"
      "short 411111111111\n";
  RunResult r = ctl({"mask", "--policy", kExample}, input);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out ==
        "plain 411111******1111 end\n"
        "spaced 4111 11** **** 1111\n"
        "dashed 5555-55**-****-4444\n"
        "amex 378282*****0005\n"
        "json {\"pan\":\"601111******1117\"}\n"
        "not-luhn 4111111111111112\n"
        "order 1234567890123456\n"
        "phone +1 415 555 0100\n"
        "ts 20261125174000123\n"
        "short 411111111111\n");
  // The resource's own rules give the same result.
  RunResult res = ctl({"mask", "--policy", kExample, "--resource", "payments-db"}, input);
  CHECK(res.out == r.out);
}

TEST_CASE("mask handles a line longer than its piece size and input without a final newline") {
  std::string input(3 * 1024 * 1024, 'a');
  input += " 4111111111111111 tail";
  // Fed from a file: run() writes stdin in one blocking call, which would deadlock against a
  // filter that streams megabytes of output before its input ends.
  TempDir dir;
  std::string in_path = dir.write("long.txt", input);
  RunResult r = run({"/bin/sh", "-c", "exec \"$0\" mask --policy \"$1\" < \"$2\"",
                     binPath("tollgatectl"), kExample, in_path});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.size() == input.size());
  CHECK(r.out.substr(r.out.size() - 22) == " 411111******1111 tail");
  CHECK(r.out.find("4111111111111111") == std::string::npos);
}

}  // namespace
}  // namespace tollgate::testing
