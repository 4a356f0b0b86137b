// A control plane that goes away while jobs run: what the sidecar does with the audit events it
// cannot deliver. Real processes: control plane (TLS, SQLite), a connected sidecar, PostgreSQL,
// psql.
#include <catch2/catch_test_macros.hpp>

#include <future>
#include <set>
#include <string>

#include "tests/integration/controlplane_harness.h"

using namespace tollgate;
using namespace tollgate::testing;

namespace {

// The statement texts stored for the test pod's subject.
std::set<std::string> storedStatements(const World& w) {
  v1::SearchAuditRequest q;
  q.add_types(v1::EVENT_STATEMENT);
  q.set_subject("system:serviceaccount:payments-ci:nightly");
  std::set<std::string> out;
  for (const auto& e : searchAll(w.cp, w.auditor, q)) out.insert(e.action().statement());
  return out;
}

}  // namespace

TEST_CASE("past its backlog limit the spool makes sessions refuse statements, until it drains",
          "[controlplane][outage]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers, {}, {"--max-audit-backlog-bytes", "8192"});
  REQUIRE(sc.ready());
  REQUIRE(sc.psql("SELECT 1;").exit_code == 0);  // the grant is held: the session survives
  // One session across the outage: each statement's event stays spooled until the spool is
  // past 12 KiB (8 KiB and half again); then statements are refused, in the protocol.
  std::string script;
  for (int i = 0; i < 200; ++i) script += "SELECT " + std::to_string(i) + " AS spooled;\n";
  w.cp.kill();
  auto r = sc.psql(script, std::chrono::seconds(60));
  INFO(r.err << sc.log());
  CHECK(r.err.find("audit:backlog") != std::string::npos);
  CHECK(r.err.find("42501") != std::string::npos);
  CHECK(sc.log().find("audit spool full") != std::string::npos);

  // Back: the spool drains and statements run again, and every event spooled was stored.
  w.cp.start();
  REQUIRE(w.cp.ready());
  bool ran =
      eventually([&] { return sc.psql("SELECT 1;").exit_code == 0; }, std::chrono::seconds(30));
  CHECK(ran);
  CHECK(eventually([&] { return storedStatements(w).count("SELECT $1 AS spooled") == 1; }));
  CHECK(sc.log().find("audit spool drained") != std::string::npos);
}

TEST_CASE("a sidecar stopped during an outage waits for the control plane to take its spool",
          "[controlplane][outage]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers, {}, {"--audit-drain-seconds", "30"});
  REQUIRE(sc.ready());
  REQUIRE(sc.psql("SELECT 1;").exit_code == 0);
  w.cp.kill();
  // The job's last statements run while the control plane is away: spooled only.
  REQUIRE(sc.psql("SELECT 1 AS last_words;\nSELECT 2, 3;\n").exit_code == 0);
  // The pod ends (SIGTERM) and the control plane comes back a little later. Before, the
  // sidecar exited at once with the stream down, and a pod's emptyDir spool goes with it.
  auto stopped =
      std::async(std::launch::async, [&] { return sc.stop(SIGTERM, std::chrono::seconds(40)); });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  w.cp.start();
  REQUIRE(w.cp.ready());
  auto code = stopped.get();
  INFO(sc.log());
  CHECK(code == std::optional<int>(0));
  auto stored = storedStatements(w);
  CHECK(stored.count("SELECT $1 AS last_words") == 1);
  CHECK(stored.count("SELECT $1, $2") == 1);
  CHECK(sc.log().find("not acknowledged at shutdown") == std::string::npos);
}
