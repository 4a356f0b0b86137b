// Policy versions applied on the control plane (PolicyService) as they reach a connected
// sidecar and the sessions it already holds. Real processes: control plane (TLS, SQLite), a
// connected sidecar, PostgreSQL, psql and psycopg2.
#include <catch2/catch_test_macros.hpp>

#include <future>
#include <string>

#include "tests/integration/controlplane_harness.h"

using namespace tollgate;
using namespace tollgate::testing;

TEST_CASE("a policy change reaches connected sidecars, and audit: sync fails closed",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());
  REQUIRE(sc.psql("SELECT 1;").exit_code == 0);

  // Version 2: strict audit. Pushed over the stream; applied by an editor with a comment.
  CHECK(applyPolicy(w, "defaults: {audit: sync}\n" + connectedPolicy(sharedPg()),
                    "strict audit for the quarter close") == 2);
  auto applied_at = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] { return sc.log().find("version=2") != std::string::npos; },
                     std::chrono::seconds(3)));
  CHECK(std::chrono::steady_clock::now() - applied_at < std::chrono::milliseconds(1500));

  // One session: a statement while the control plane is up runs (its record was stored
  // first); after the control plane dies, the next statement is refused, not run unrecorded.
  std::string script =
      "import sys, time, psycopg2\n"
      "c = psycopg2.connect(sys.argv[1]); c.autocommit = True; cur = c.cursor()\n"
      "cur.execute('SELECT 41 + 1'); print('first', cur.fetchone()[0], flush=True)\n"
      "time.sleep(4)\n"
      "try:\n"
      "    cur.execute('SELECT 43'); print('second ran', flush=True)\n"
      "except psycopg2.Error as e:\n"
      "    print('second refused', e.pgcode, str(e).strip(), flush=True)\n";
  TempDir tmp;
  auto path = tmp.write("sync.py", script);
  auto job = std::async(std::launch::async, [&] {
    return run({kSystemPython, path, sc.conninfo()}, "", std::chrono::seconds(60));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  w.cp.kill();
  auto r = job.get();
  INFO(r.out << r.err << sc.log());
  CHECK(r.out.find("first 42") != std::string::npos);
  CHECK(r.out.find("second refused 42501") != std::string::npos);
  CHECK(r.out.find("audit: sync") != std::string::npos);

  // Back up: the pre-forwarding record of the first statement is in the store.
  w.cp.start();
  REQUIRE(w.cp.ready());
  v1::SearchAuditRequest q;
  q.set_text("recorded before forwarding");
  CHECK(eventually([&] { return !searchAll(w.cp, w.auditor, q).empty(); }));
}

TEST_CASE("a policy version applied on the control plane reaches sessions already open",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());
  // One session across the change: it reads holder names under version 1, then waits for the
  // test to apply version 2 (a guardrail against reading them) and tries again.
  PausingJob job(sc,
                 "import psycopg2\n"
                 "c = psycopg2.connect(sys.argv[1]); c.autocommit = True; cur = c.cursor()\n"
                 "def q(sql):\n"
                 "    try:\n"
                 "        cur.execute(sql); return str(cur.fetchone()[0])\n"
                 "    except psycopg2.Error as e:\n"
                 "        return '%s %s' % (e.pgcode, e.pgerror.strip())\n"
                 "print('v1', q('select holder from cards where id = 1'), flush=True)\n"
                 "pause()\n"
                 "print('v2', q('select holder from cards where id = 1'), flush=True)\n"
                 "print('v2-other', q('select count(*) from cards where id <= 6'), flush=True)\n");
  job.applyWhilePaused(
      w, sc,
      withGuardrail(connectedPolicy(sharedPg()),
                    "{name: no-holder-names, match: {pattern: \"holder\"}, action: block, "
                    "message: \"holder names are off limits\"}"),
      "holder names are personal data");
  auto r = job.finish();
  INFO(r.out << r.err << sc.log());
  CHECK(r.out.find("v1 Alice Visa") != std::string::npos);
  CHECK(r.out.find("v2 42501") != std::string::npos);
  CHECK(r.out.find("holder names are off limits") != std::string::npos);
  CHECK(r.out.find("v2-other 6") != std::string::npos);
  // The refusal was recorded under version 2, by the new rule.
  v1::SearchAuditRequest q;
  q.set_text("holder");
  q.add_types(v1::EVENT_STATEMENT);
  CHECK(eventually([&] {
    for (const auto& e : searchAll(w.cp, w.auditor, q)) {
      if (e.reason().policy_version() == 2 && e.reason().rule_ids_size() > 0 &&
          e.reason().rule_ids(0) == "guardrail:no-holder-names") {
        return true;
      }
    }
    return false;
  }));
}

// The control plane checks a policy's text; only the sidecar resolves names. A version whose
// resources claim one destination through a name and a literal (localhost:5433, 127.0.0.1:5433)
// passed the control plane and the sidecar mapped 127.0.0.1:5433 to the raw relay.
TEST_CASE("a policy version that claims one destination twice is refused by the sidecar",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());
  REQUIRE(sc.psql("SELECT 1;").exit_code == 0);
  std::string v2 = withGuardrail(connectedPolicy(sharedPg()),
                                 "{name: no-reads, match: {class: [read]}, action: block}");
  const std::string db = "    database: payments\n";
  v2.insert(v2.find(db) + db.size(), "    match: {hosts: [localhost], ports: [5433]}\n");
  v2.insert(v2.find("access:\n"),
            "  - name: legacy-raw\n"
            "    protocol: tcp\n"
            "    upstream: {host: 127.0.0.9, port: 5432}\n"
            "    match: {hosts: [\"127.0.0.1\"], ports: [5433]}\n");
  CHECK(applyPolicy(w, v2, "a raw relay for the legacy port") == 2);
  REQUIRE(eventually(
      [&] { return sc.log().find("policy from the control plane refused") != std::string::npos; },
      std::chrono::seconds(5)));
  INFO(sc.log());
  CHECK(sc.log().find("destination 127.0.0.1:5433 is already claimed by resource 'payments-db' "
                      "(match.hosts localhost); resource 'legacy-raw' (match.hosts 127.0.0.1) "
                      "claims it too") != std::string::npos);
  // Version 1 stays: its reads run (version 2 would block them).
  auto r = sc.psql("SELECT 41 + 1;");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("42") != std::string::npos);
}
