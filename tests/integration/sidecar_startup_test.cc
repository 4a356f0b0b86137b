// Mistakes of a standalone sidecar's command line and policy, reported at start or at load
// instead of at the first connection: exit codes, warnings, and what a PostgreSQL client is told
// when its listener cannot be served.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/support/test_support.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// What a PostgreSQL client dialling 127.0.0.1:`port` gets: the answer to its SSLRequest (one
// byte), then everything sent after its StartupMessage until the connection closes.
struct PgAnswer {
  std::string ssl;
  std::string after_startup;
  // Fields of the first ErrorResponse in after_startup, by type ('S', 'C', 'M').
  std::string field(char type) const {
    if (after_startup.size() < 5 || after_startup[0] != 'E') return "";
    for (size_t at = 5; at < after_startup.size() && after_startup[at] != '\0';) {
      const size_t end = after_startup.find('\0', at + 1);
      if (end == std::string::npos) break;
      if (after_startup[at] == type) return after_startup.substr(at + 1, end - at - 1);
      at = end + 1;
    }
    return "";
  }
};

PgAnswer startupAgainst(int port) {
  PgAnswer out;
  int fd = tollgate::testing::connectLoopback(port);
  if (fd < 0) return out;
  timeval tv{15, 0};  // a sidecar that never answers fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string ssl = be32(8) + be32(80877103);
  char buf[4096];
  if (::write(fd, ssl.data(), ssl.size()) == static_cast<ssize_t>(ssl.size()) &&
      ::read(fd, buf, 1) == 1) {
    out.ssl.assign(buf, 1);
    std::string params = std::string("user\0job\0database\0payments\0\0", 28);
    const std::string startup =
        be32(static_cast<uint32_t>(8 + params.size())) + be32(196608) + params;
    if (::write(fd, startup.data(), startup.size()) == static_cast<ssize_t>(startup.size())) {
      for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.after_startup.append(buf, n);
    }
  }
  ::close(fd);
  return out;
}

// A policy with resource `name`, a postgres server that is not there (nothing connects to it
// here), granted to everyone; plus a mysql resource `legacy` when asked.
std::string policyText(const std::string& cred, const std::string& name, bool legacy = false) {
  std::string y = "version: 1\nresources:\n  - name: " + name +
                  "\n    protocol: postgres\n"
                  "    upstream: {host: 127.0.0.1, port: 1, tls: disable}\n"
                  "    credentials: {file: " +
                  cred + "}\n";
  if (legacy) {
    y += "  - {name: legacy, protocol: mysql, upstream: {host: 127.0.0.1, port: 2, tls: disable}, "
         "credentials: {file: " +
         cred + "}}\n";
  }
  return y + "access:\n  - {subjects: [{subject: \"*\"}], resources: [\"*\"], role: read}\n";
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

// Review (session 24): every refused connection was recorded under the rule
// defaults.unknownDestination:deny, whatever refused it. Review: the client was closed without a
// word, so psql said only "server closed the connection unexpectedly".
TEST_CASE(
    "a reload that drops a listener's resource is logged, and its PostgreSQL clients are "
    "told why") {
  TempDir dir;
  const std::string cred = dir.write("cred", "app:pw\n");
  auto policy = dir.write("policy.yaml", policyText(cred, "db"));
  const std::string events = (dir.path() / "events.jsonl").string();
  const int port = freePort();
  const int admin = freePort();
  Process sidecar(
      {binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin), "--policy", policy,
       "--events", events, "--listen", "127.0.0.1:" + std::to_string(port) + "=db"},
      (dir.path() / "sidecar.log").string());
  REQUIRE(waitPort(port));
  dir.write("policy.yaml", policyText(cred, "db-renamed"));
  ::kill(sidecar.pid(), SIGHUP);
  REQUIRE(eventually([&] { return sidecar.log().find("version=2") != std::string::npos; }));
  INFO(sidecar.log());
  CHECK_THAT(sidecar.log(), ContainsSubstring("listener cannot be served"));
  CHECK(eventually([&] { return httpGet(admin, "/readyz").status == 200; }));

  PgAnswer a = startupAgainst(port);
  CHECK(a.ssl == "N");
  CHECK(a.field('S') == "FATAL");
  CHECK(a.field('C') == "08004");
  CHECK(a.field('M') == "tollgate: this listener's resource db is not in the policy (version 2)");
  CHECK(sidecar.stop(SIGTERM).value_or(-1) == 0);  // events are flushed on the way out
  const std::string all = readAll(events);
  INFO(all);
  CHECK_THAT(all, ContainsSubstring("\"ruleIds\":[\"sidecar:unknown_resource\"]"));
  CHECK(all.find("unknownDestination") == std::string::npos);
}

// Review: a resource of protocol mysql loaded silently and every connection closed without a
// word (the log said "uses protocol mysql, which this sidecar does not speak yet").
TEST_CASE(
    "a listener on a resource of a protocol the sidecar does not speak is warned about, "
    "and a PostgreSQL client is told why") {
  TempDir dir;
  auto policy = dir.write("policy.yaml", policyText(dir.write("cred", "app:pw\n"), "db", true));
  const std::string events = (dir.path() / "events.jsonl").string();
  const int port = freePort();
  Process sidecar({binPath("tollgate-sidecar"), "--admin-port", "0", "--policy", policy, "--events",
                   events, "--listen", "127.0.0.1:" + std::to_string(port) + "=legacy"},
                  (dir.path() / "sidecar.log").string());
  REQUIRE(waitPort(port));
  INFO(sidecar.log());
  CHECK_THAT(sidecar.log(),
             ContainsSubstring("resource 'legacy': protocol mysql is not served by the sidecar"));
  CHECK_THAT(sidecar.log(), ContainsSubstring("resource legacy uses protocol mysql, which this "
                                              "sidecar does not speak yet: its connections are "
                                              "refused"));
  PgAnswer a = startupAgainst(port);
  CHECK(a.ssl == "N");
  CHECK(a.field('C') == "08004");
  CHECK_THAT(a.field('M'), ContainsSubstring("resource legacy uses protocol mysql"));
  CHECK(sidecar.stop(SIGTERM).value_or(-1) == 0);
  CHECK_THAT(readAll(events), ContainsSubstring("\"ruleIds\":[\"sidecar:unsupported_protocol\"]"));
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
