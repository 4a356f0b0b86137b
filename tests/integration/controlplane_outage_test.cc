// A control plane that goes away while jobs run: what the sidecar does with the audit events it
// cannot deliver. Real processes: control plane (TLS, SQLite), a connected sidecar, PostgreSQL,
// psql.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "tests/integration/controlplane_harness.h"

using namespace tollgate;
using namespace tollgate::testing;

namespace {

// The statement events stored for the test pod's subject.
std::vector<v1::AuditEvent> storedStatements(const World& w) {
  v1::SearchAuditRequest q;
  q.add_types(v1::EVENT_STATEMENT);
  q.set_subject("system:serviceaccount:payments-ci:nightly");
  return searchAll(w.cp, w.auditor, q);
}

// How many of them ran `statement` (normalised) as allowed.
int allowedCount(const std::vector<v1::AuditEvent>& events, const std::string& statement) {
  return static_cast<int>(std::count_if(events.begin(), events.end(), [&](const auto& e) {
    return e.action().statement() == statement && e.reason().decision() == v1::DECISION_ALLOW;
  }));
}

}  // namespace

TEST_CASE("past its backlog limit the spool makes sessions refuse statements, until it drains",
          "[controlplane][outage]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers, {}, {"--max-audit-backlog-bytes", "8192"});
  REQUIRE(sc.ready());
  // One session across the outage (its grant is held): a statement prepared before, then
  // statements until the spool is past 12 KiB (8 KiB and half again), then the prepared
  // statement's Execute alone (no Parse to decide at), then a transaction that the refusal
  // aborts and ROLLBACK ends.
  TempDir tmp;
  const std::string go = (tmp.path() / "go").string();
  auto script = tmp.write("job.py", R"(
import os, sys, time, psycopg
c = psycopg.connect(sys.argv[1], autocommit=True)
c.prepare_threshold = None
c.execute("SELECT %s::int AS prepared_one", (1,), prepare=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
ok = refused = 0
for i in range(400):
    try:
        c.execute("SELECT %s::int AS spooled", (i,))
        ok += 1
    except psycopg.Error as e:
        if e.sqlstate == "42501" and "audit:backlog" in str(e):
            refused += 1
print("ok", ok, "refused", refused)
try:
    c.execute("SELECT %s::int AS prepared_one", (2,), prepare=True)
    print("prepared ran")
except psycopg.Error as e:
    print("prepared refused", e.sqlstate, "audit:backlog" in str(e))
c.autocommit = False
try:
    c.execute("SELECT 1 AS in_transaction")
except psycopg.Error:
    pass
c.rollback()
print("rollback ok")
)");
  auto job = std::async(std::launch::async, [&] {
    return run({kSystemPython, script, sc.conninfo(), go}, "", std::chrono::seconds(90));
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));  // connected and prepared
  w.cp.kill();
  tmp.write("go", "");
  auto r = job.get();
  INFO(r.out << r.err << sc.log());
  int ok = -1, refused = -1;
  REQUIRE(std::sscanf(r.out.c_str(), "ok %d refused %d", &ok, &refused) == 2);
  CHECK(ok > 0);
  CHECK(refused > 0);
  CHECK(ok + refused == 400);
  CHECK(r.out.find("prepared refused 42501 True") != std::string::npos);
  CHECK(r.out.find("rollback ok") != std::string::npos);
  // Logged by the spool's thread when it next writes (the refusals above may come first).
  CHECK(eventually([&] { return sc.log().find("audit spool full") != std::string::npos; }));
  // New sessions are refused meanwhile: a job reconnecting in a loop.
  for (int i = 0; i < 5; ++i) CHECK(sc.psql("SELECT 1;").exit_code != 0);

  // Back: the spool drains and statements run again, and every statement that ran was stored.
  w.cp.start();
  REQUIRE(w.cp.ready());
  bool ran =
      eventually([&] { return sc.psql("SELECT 1;").exit_code == 0; }, std::chrono::seconds(30));
  CHECK(ran);
  auto stored_runs = [&] { return allowedCount(storedStatements(w), "SELECT $1::int AS spooled"); };
  CHECK(eventually([&] { return stored_runs() == ok; }, std::chrono::seconds(20)));
  CHECK(stored_runs() == ok);
  CHECK(sc.log().find("audit spool drained") != std::string::npos);
  // The refusals themselves did not pile into the full spool. The first has its event; the
  // others (the loop's, then the prepared Execute) one event between them, written when the
  // session's BEGIN was recorded; the SELECT refused in that transaction has its own.
  v1::SearchAuditRequest q;
  q.add_types(v1::EVENT_STATEMENT);
  q.set_rule_id("audit:backlog");
  std::vector<v1::AuditEvent> refusals;
  CHECK(eventually([&] {
    refusals = searchAll(w.cp, w.auditor, q);
    return refusals.size() >= 3;
  }));
  size_t loop = 0, summary = 0, in_transaction = 0;
  for (const auto& e : refusals) {
    INFO(e.ShortDebugString());
    CHECK(e.reason().decision() == v1::DECISION_BLOCK);
    loop += e.action().statement() == "SELECT $1::int AS spooled";
    in_transaction += e.action().statement() == "SELECT $1 AS in_transaction";
    summary += e.action().detail().rfind(std::to_string(refused) + " more statements", 0) == 0;
  }
  INFO("refused " << refused);
  CHECK(refusals.size() == 3);
  CHECK(loop == 1);
  CHECK(summary == 1);
  CHECK(in_transaction == 1);
  // Likewise the connections refused: the first recorded, the rest counted into one event
  // when a session was let in again.
  v1::SearchAuditRequest rq;
  rq.add_types(v1::EVENT_CONNECTION_REFUSED);
  std::vector<v1::AuditEvent> refused_connections;
  CHECK(eventually([&] {
    refused_connections = searchAll(w.cp, w.auditor, rq);
    return refused_connections.size() >= 2;
  }));
  size_t first = 0, counted = 0;
  for (const auto& e : refused_connections) {
    INFO(e.ShortDebugString());
    first += e.action().detail().find("local spool is full") != std::string::npos;
    int more = 0;
    if (std::sscanf(e.action().detail().c_str(), "%d more connections refused", &more) == 1) {
      ++counted;
      CHECK(more >= 4);
    }
  }
  CHECK(first == 1);
  CHECK(counted == 1);
  CHECK(refused_connections.size() == 2);
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
  CHECK(allowedCount(stored, "SELECT $1 AS last_words") == 1);
  CHECK(allowedCount(stored, "SELECT $1, $2") == 1);
  CHECK(sc.log().find("not acknowledged at shutdown") == std::string::npos);
}
