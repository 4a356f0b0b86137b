// Mistakes of a standalone sidecar's command line and policy, reported at start or at load
// instead of at the first connection: exit codes and warnings.
#include <csignal>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/support/test_support.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// A policy with resource `name`, a postgres server that is not there (nothing connects to it
// here), granted to everyone.
std::string policyText(const std::string& cred, const std::string& name) {
  return "version: 1\nresources:\n  - name: " + name +
         "\n    protocol: postgres\n"
         "    upstream: {host: 127.0.0.1, port: 1, tls: disable}\n"
         "    credentials: {file: " +
         cred +
         "}\n"
         "access:\n  - {subjects: [{subject: \"*\"}], resources: [\"*\"], role: read}\n";
}

}  // namespace

// Review: `--listen 127.0.0.1:6432=payment-db` (a resource the policy lacks) started, /readyz
// said ready, and psql got "server closed the connection unexpectedly".
TEST_CASE("a listener naming a resource the first policy lacks stops start-up with exit 2") {
  TempDir dir;
  auto policy = dir.write("policy.yaml", policyText(dir.write("cred", "app:pw\n"), "payments-db"));
  auto r = run({binPath("tollgate-sidecar"), "--admin-port", "0", "--policy", policy, "--listen",
                "127.0.0.1:" + std::to_string(freePort()) + "=payment-db"},
               "", std::chrono::seconds(20));
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, ContainsSubstring("names resource payment-db, which the policy does not have"));
}

// Review: a bad --config exited 2 (as the README says of a bad file), a bad policy file 1.
TEST_CASE("a policy that does not load at start-up exits 2, as a bad config does") {
  TempDir dir;
  auto bad = dir.write("policy.yaml", "version: 1\nresources: nope\n");
  auto r = run({binPath("tollgate-sidecar"), "--admin-port", "0", "--policy", bad});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, ContainsSubstring(bad + ":2:"));
  auto missing = run({binPath("tollgate-sidecar"), "--admin-port", "0", "--policy",
                      (dir.path() / "absent.yaml").string()});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, ContainsSubstring("absent.yaml: cannot open file"));
}

// Review: with no --events audit was off without a word; with nothing listening the sidecar ran
// and served nothing; a credential or CA file not there showed only as refused sessions.
TEST_CASE(
    "start-up warns of no events file, no listener and files a resource names that are "
    "not there") {
  TempDir dir;
  const std::string cred = (dir.path() / "not-mounted").string();
  const std::string ca = (dir.path() / "ca.pem").string();
  auto policy = dir.write("policy.yaml",
                          "version: 1\nresources:\n  - name: db\n    protocol: postgres\n"
                          "    upstream: {host: 127.0.0.1, port: 1, ca: " +
                              ca + "}\n    credentials: {file: " + cred + "}\n");
  const int admin = freePort();
  Process sidecar(
      {binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin), "--policy", policy},
      (dir.path() / "sidecar.log").string());
  REQUIRE(waitHealthy(admin));
  REQUIRE(eventually([&] { return sidecar.log().find("sidecar started") != std::string::npos; }));
  const std::string log = sidecar.log();
  INFO(log);
  CHECK_THAT(log, ContainsSubstring("no --events file: audit events are not recorded"));
  CHECK_THAT(log, ContainsSubstring("nothing listens"));
  CHECK_THAT(log, ContainsSubstring("resource db: credentials.file " + cred + " cannot be read"));
  CHECK_THAT(log, ContainsSubstring("resource db: upstream.ca " + ca + " cannot be read"));
  CHECK(sidecar.stop(SIGTERM).value_or(-1) == 0);
}
