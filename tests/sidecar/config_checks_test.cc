// Checks of the sidecar's listeners and a policy's files as the policy loads: mistakes that
// showed only at the first connection (review of the docs against behaviour).
#include "sidecar/config_checks.h"

#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "policy/loader.h"
#include "tests/support/test_support.h"

namespace tollgate::sidecar {
namespace {

// A policy with a postgres resource `db` (credential file `cred`, CA `ca`, tls verify-full),
// a mysql resource `legacy` and a tcp resource `raw`; paths as given.
policy::CompiledPolicyPtr policyWith(const std::string& cred, const std::string& ca,
                                     const std::string& db_credentials = "") {
  const std::string credentials = db_credentials.empty() ? "{file: " + cred + "}" : db_credentials;
  auto r = policy::loadPolicyText(
      "version: 1\n"
      "resources:\n"
      "  - name: db\n"
      "    protocol: postgres\n"
      "    upstream: {host: 127.0.0.1, port: 5432, ca: " +
          ca +
          "}\n"
          "    credentials: " +
          credentials +
          "\n"
          "  - {name: legacy, protocol: mysql, upstream: {host: 127.0.0.1, port: 3306}, "
          "credentials: {file: /nonexistent/legacy}}\n"
          "  - {name: raw, protocol: tcp, upstream: {host: 127.0.0.1, port: 9000}}\n",
      "p.yaml", policy::CompileOptions{.require_hash_key = false});
  REQUIRE(r.ok());
  return r.policy;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

ListenerConfig listener(int port, const std::string& resource) {
  return ListenerConfig{"127.0.0.1", port, resource};
}

}  // namespace

// Review: `--listen 127.0.0.1:6432=payment-db` (the policy says payments-db) started, said it was
// ready, and every psql got "server closed the connection unexpectedly".
TEST_CASE(
    "a listener naming a resource the policy lacks is an error, one of another protocol "
    "a warning") {
  testing::TempDir dir;
  auto p = policyWith(dir.write("cred", "app:pw\n"), dir.write("ca.pem", "x"));
  PolicyFit fit = checkPolicyFit(
      *p, {listener(6432, "db"), listener(6433, "payment-db"), listener(6434, "legacy")}, true);
  INFO(joined(fit.errors) << joined(fit.warnings));
  REQUIRE(fit.errors.size() == 1);
  CHECK(fit.errors[0] ==
        "listener 127.0.0.1:6433 names resource payment-db, which the policy does not have");
  REQUIRE(fit.warnings.size() == 1);
  CHECK(fit.warnings[0] ==
        "listener 127.0.0.1:6434: resource legacy uses protocol mysql, which this sidecar does "
        "not speak yet: its connections are refused");
  CHECK(checkPolicyFit(*p, {listener(6432, "db"), listener(6435, "raw")}, true).errors.empty());
}

// Review: a credential or CA file that is not there showed only as a refused session.
TEST_CASE(
    "files a postgres resource names that cannot be read are warnings naming resource "
    "and path") {
  testing::TempDir dir;
  const std::string cred = (dir.path() / "not-mounted-yet").string();
  const std::string ca = (dir.path() / "ca.pem").string();
  auto p = policyWith(cred, ca);
  PolicyFit fit = checkPolicyFit(*p, {}, /*standalone=*/true);
  const std::string all = joined(fit.warnings);
  INFO(all);
  CHECK(fit.errors.empty());
  CHECK(all.find("resource db: credentials.file " + cred +
                 " cannot be read (No such file or directory)") != std::string::npos);
  CHECK(all.find("resource db: upstream.ca " + ca + " cannot be read") != std::string::npos);
  // Only PostgreSQL sessions read them: the mysql resource's file is not looked at.
  CHECK(all.find("legacy") == std::string::npos);
  // Connected to a control plane, credentials come from it: only the CA is the sidecar's.
  PolicyFit connected = checkPolicyFit(*p, {}, /*standalone=*/false);
  REQUIRE(connected.warnings.size() == 1);
  CHECK(connected.warnings[0].find("upstream.ca") != std::string::npos);
  // Once mounted, nothing is said.
  dir.write("not-mounted-yet", "app:pw\n");
  dir.write("ca.pem", "x");
  CHECK(checkPolicyFit(*p, {}, true).warnings.empty());
}

// Review (session 25): a FIFO as credentials.file hung the sidecar's start (a blocking open).
TEST_CASE("a FIFO or a directory as a resource's file is a warning, not a hang") {
  testing::TempDir dir;
  const std::string fifo = (dir.path() / "cred-fifo").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto p = policyWith(fifo, dir.path().string());
  const std::string all = joined(checkPolicyFit(*p, {}, /*standalone=*/true).warnings);
  INFO(all);
  CHECK(all.find("credentials.file " + fifo + " cannot be read (not a regular file)") !=
        std::string::npos);
  CHECK(all.find("upstream.ca " + dir.path().string() + " cannot be read") != std::string::npos);
}

TEST_CASE("standalone, a resource whose credentials only a control plane brokers is a warning") {
  testing::TempDir dir;
  auto p = policyWith("", dir.write("ca.pem", "x"), "{secret: payments-app}");
  PolicyFit fit = checkPolicyFit(*p, {}, /*standalone=*/true);
  REQUIRE(fit.warnings.size() == 1);
  CHECK(fit.warnings[0] ==
        "resource db: credentials.secret payments-app is brokered by a control plane; in "
        "standalone mode its sessions are refused (give credentials.file)");
  CHECK(checkPolicyFit(*p, {}, /*standalone=*/false).warnings.empty());
}

}  // namespace tollgate::sidecar
