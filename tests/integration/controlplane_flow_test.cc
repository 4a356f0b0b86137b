// The whole flow with real processes: control plane (TLS, SQLite), connected sidecars, a real
// PostgreSQL, psql and psycopg2 jobs; grants, approvals, revocation, expiry, kill under load.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <functional>
#include <future>
#include <map>
#include <set>

#include "tests/integration/controlplane_harness.h"

using namespace tollgate;
using namespace tollgate::testing;

namespace {

std::vector<v1::Approval> pendingApprovals(const ControlPlaneProc& cp, const std::string& token) {
  auto stub = v1::ApprovalService::NewStub(cp.channel());
  v1::ListApprovalsResponse resp;
  auto ctx = authed(token);
  auto st = stub->List(ctx.get(), v1::ListApprovalsRequest(), &resp);
  if (!st.ok()) return {};
  return {resp.approvals().begin(), resp.approvals().end()};
}

std::vector<v1::Grant> grantsFor(const ControlPlaneProc& cp, const std::string& token,
                                 const std::string& subject) {
  auto stub = v1::GrantService::NewStub(cp.channel());
  v1::ListGrantsRequest req;
  req.set_subject(subject);
  v1::ListGrantsResponse resp;
  auto ctx = authed(token);
  auto st = stub->List(ctx.get(), req, &resp);
  if (!st.ok()) return {};
  return {resp.grants().begin(), resp.grants().end()};
}

std::vector<v1::Session> allSessions(const ControlPlaneProc& cp, const std::string& token) {
  auto stub = v1::SessionService::NewStub(cp.channel());
  v1::ListSessionsRequest req;
  req.set_include_ended(true);
  v1::ListSessionsResponse resp;
  auto ctx = authed(token);
  auto st = stub->List(ctx.get(), req, &resp);
  if (!st.ok()) return {};
  return {resp.sessions().begin(), resp.sessions().end()};
}

}  // namespace

TEST_CASE("a connected sidecar takes identity, policy and credentials from the control plane",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());

  // No database password anywhere in the job: the credential came over the stream.
  auto r = sc.psql("SELECT pan FROM cards ORDER BY id LIMIT 1;\nDROP TABLE cards;\n");
  INFO(r.out << r.err << sc.log());
  CHECK(r.out.find("4111 11** **** 1111") != std::string::npos);
  CHECK(r.err.find("42501") != std::string::npos);
  CHECK(r.err.find("role:read") != std::string::npos);
  CHECK(luhnRuns(r.out).empty());

  // The records are in the control plane's store, stamped with the pod's verified identity.
  v1::SearchAuditRequest q;
  q.set_resource("payments-db");
  q.add_types(v1::EVENT_STATEMENT);
  std::vector<v1::AuditEvent> events;
  REQUIRE(eventually([&] {
    events = searchAll(w.cp, w.auditor, q);
    return events.size() >= 2;
  }));
  bool saw_block = false;
  for (const auto& e : events) {
    CHECK(e.identity().pod_name() == "nightly-abc12");
    CHECK(e.identity().pod_uid() == sc.pod().uid);
    CHECK(e.identity().kind() == v1::Identity::KIND_WORKLOAD);
    CHECK_FALSE(e.reason().grant_id().empty());
    if (e.reason().decision() == v1::DECISION_BLOCK) {
      saw_block = true;
      CHECK(e.reason().rule_ids(0) == "role:read");
    }
  }
  CHECK(saw_block);
  // The grant the sidecar asked for is visible to people, bound to the pod.
  auto grants = grantsFor(w.cp, w.admin, "system:serviceaccount:payments-ci:nightly");
  REQUIRE_FALSE(grants.empty());
  CHECK(grants.front().pod_uid() == sc.pod().uid);
  CHECK(grants.front().state() == v1::GRANT_ACTIVE);
  // The session list shows the ended session with its protocol, counters and traffic.
  std::vector<v1::Session> sessions;
  REQUIRE(eventually([&] {
    sessions = allSessions(w.cp, w.admin);
    return !sessions.empty() && sessions.front().has_ended_at();
  }));
  const v1::Session& s = sessions.front();
  CHECK(s.resource() == "payments-db");
  CHECK(s.protocol() == "postgres");
  CHECK(s.grant_id() == grants.front().id());
  CHECK(s.statements() == 2);
  CHECK(s.blocked() == 1);
  CHECK(s.bytes_in() > 0);
  CHECK(s.bytes_out() > s.bytes_in());
}

TEST_CASE("workloads without a valid token or an access rule get no session",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  SECTION("no access rule for the service account") {
    // A card number in a pod name (review, session 22: the control plane's log kept it).
    ConnectedSidecar sc(w.cp, w.issuers,
                        {"marketing", "report", "report-4111111111111111", "uid-report-1"});
    REQUIRE(sc.ready());
    auto r = sc.psql("SELECT 1;");
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("no access rule") != std::string::npos);
    CHECK(eventually([&] { return w.cp.log().find("report-411111") != std::string::npos; }));
    CHECK(w.cp.log().find("4111111111111111") == std::string::npos);
  }
  SECTION("a token signed by an untrusted key is refused, and so is every session (fail closed)") {
    TestIssuers other;  // keys the control plane does not trust
    ConnectedSidecar sc(w.cp, other);
    REQUIRE(sc.ready());
    auto r = sc.psql("SELECT 1;");
    INFO(r.err << "\nsidecar log:\n" << sc.log());
    CHECK(r.exit_code != 0);
    // Never welcomed, the sidecar holds no policy at all, so it cannot even tell which
    // protocol the listener speaks: it closes the connection and says why in its log.
    CHECK(eventually([&] { return sc.log().find("no policy loaded") != std::string::npos; }));
    v1::SearchAuditRequest q;
    q.add_types(v1::EVENT_ACCESS_DENIED);
    CHECK(eventually([&] { return !searchAll(w.cp, w.auditor, q).empty(); }));
  }
}

TEST_CASE("a grant that expires ends the live session on it", "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers, {"payments-short", "quick", "quick-1", "uid-quick-1"});
  REQUIRE(sc.ready());
  auto started = std::chrono::steady_clock::now();
  auto r = sc.psql("SELECT 1;\nSELECT pg_sleep(8);\nSELECT 2;\n", std::chrono::seconds(20));
  auto took = std::chrono::steady_clock::now() - started;
  INFO(r.out << r.err << sc.log());
  CHECK(r.out.find("1") == 0);
  CHECK(r.err.find("grant expired") != std::string::npos);
  // maxDuration is 3 s; the session ended well before the 8 s sleep could finish.
  CHECK(took < std::chrono::seconds(6));
}

TEST_CASE("a revoked grant ends live sessions within a second", "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());
  auto job = std::async(std::launch::async, [&] {
    return sc.psql("SELECT pg_sleep(15);\n", std::chrono::seconds(30));
  });
  std::vector<v1::Grant> grants;
  REQUIRE(eventually([&] {
    grants = grantsFor(w.cp, w.admin, "system:serviceaccount:payments-ci:nightly");
    return !grants.empty();
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto stub = v1::GrantService::NewStub(w.cp.channel());
  v1::GrantIdRequest req;
  req.set_grant_id(grants.front().id());
  req.set_comment("incident 42");
  v1::Grant revoked;
  auto ctx = authed(w.approver);
  auto st = stub->Revoke(ctx.get(), req, &revoked);
  REQUIRE(st.ok());
  auto revoked_at = std::chrono::steady_clock::now();
  REQUIRE(job.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  auto ended_after = std::chrono::steady_clock::now() - revoked_at;
  auto r = job.get();
  INFO(r.err << sc.log());
  CHECK(r.err.find("revoked") != std::string::npos);
  CHECK(ended_after < std::chrono::milliseconds(1500));
  // New sessions need a new grant, which the rule gives again.
  CHECK(sc.psql("SELECT 7;").out.find("7") != std::string::npos);
}

TEST_CASE("a held statement runs once approved and fails once denied", "[controlplane][flow]") {
  World w;
  // For "what would refuse a statement...", before the first session: the sidecar's sessions
  // share the catalog they read.
  sharedPg().sqlOrThrow(
      "drop table if exists hq_src, hq_dst; create table hq_src (id int);"
      "create table hq_dst (like hq_src);"
      "create or replace function hq_dyn() returns int language plpgsql as "
      "$$ begin execute 'select 1'; return 1; end $$;"
      "drop table if exists hq_log; create table hq_log (id int, note text);"
      "insert into hq_log values (1, 'n');"
      "create or replace function hq_code() returns text language sql stable as "
      "'select cvv from cards order by id limit 1';"
      "grant all on hq_src, hq_dst, hq_log to app;",
      kPgAppDatabase);
  REQUIRE(w.cp.ready());
  // payments-ops holds write; an unbounded DELETE matches the review guardrail.
  ConnectedSidecar sc(w.cp, w.issuers, {"payments-ops", "deploy", "deploy-1", "uid-deploy-1"});
  REQUIRE(sc.ready());
  {
    auto first = sc.psql("CREATE TEMP TABLE x(i int);");  // connects, takes the grant
    INFO("psql: " << first.err << "\nsidecar log:\n"
                  << sc.log() << "\ncontrol plane log:\n"
                  << w.cp.log());
    REQUIRE(first.exit_code == 0);
  }

  // `job`: what the job has done so far, for the failure message.
  auto decide = [&](
                    bool approve, const std::string& statement = "DELETE FROM",
                    const std::function<std::string()>& job = [] { return std::string(); }) {
    std::vector<v1::Approval> pending;
    if (!eventually(
            [&] {
              pending = pendingApprovals(w.cp, w.approver);
              return !pending.empty();
            },
            std::chrono::seconds(30))) {
      FAIL("no approval pending\njob: " << job() << "\nsidecar log:\n"
                                        << sc.log() << "\ncontrol plane log:\n"
                                        << w.cp.log());
    }
    REQUIRE(pending.front().kind() == v1::Approval::KIND_STATEMENT);
    CHECK(pending.front().rule() == "guardrail:unbounded-delete");
    CHECK(pending.front().statement().find(statement) != std::string::npos);
    auto stub = v1::ApprovalService::NewStub(w.cp.channel());
    v1::ApprovalVoteRequest vote;
    vote.set_approval_id(pending.front().id());
    vote.set_comment(approve ? "ok for the cleanup" : "not today");
    v1::Approval out;
    auto ctx = authed(w.approver);
    auto st = approve ? stub->Approve(ctx.get(), vote, &out) : stub->Deny(ctx.get(), vote, &out);
    REQUIRE(st.ok());
  };

  SECTION("approved by a second identity") {
    auto job = std::async(std::launch::async, [&] {
      return sc.psql("BEGIN;\nDELETE FROM cards;\nROLLBACK;\nSELECT 'after';\n");
    });
    decide(true);
    auto r = job.get();
    INFO(r.out << r.err);
    CHECK(r.out.find("after") != std::string::npos);
    CHECK(r.err.find("42501") == std::string::npos);
  }
  SECTION("denied") {
    auto job = std::async(std::launch::async,
                          [&] { return sc.psql("DELETE FROM cards;\nSELECT 'after';\n"); });
    decide(false);
    auto r = job.get();
    INFO(r.out << r.err);
    CHECK(r.err.find("42501") != std::string::npos);
    CHECK(r.err.find("not today") != std::string::npos);
    CHECK(r.out.find("after") != std::string::npos);  // the session stays usable
  }
  SECTION("a policy applied while it is held blocks it even once approved") {
    auto job = std::async(std::launch::async, [&] {
      return sc.psql("BEGIN;\nDELETE FROM cards;\nROLLBACK;\nSELECT 'after';\n");
    });
    REQUIRE(eventually([&] { return !pendingApprovals(w.cp, w.approver).empty(); },
                       std::chrono::seconds(30)));
    applyPolicy(w,
                withGuardrail(connectedPolicy(sharedPg()),
                              "{name: no-deletes, match: {statement: [delete]}, action: block}"),
                "no deletes during the audit");
    REQUIRE(eventually([&] { return sc.log().find("version=2") != std::string::npos; }));
    decide(true);
    auto r = job.get();
    INFO(r.out << r.err);
    CHECK(r.err.find("42501") != std::string::npos);
    CHECK(r.err.find("no-deletes") != std::string::npos);
    CHECK(r.out.find("after") != std::string::npos);
  }
  SECTION("a statement approved at its Parse keeps running under the next version") {
    // psycopg 3 with prepare=True: Parse (held, approved) once, then Bind/Execute only. An
    // unrelated policy change in between must not take the approval back.
    // (An unbounded UPDATE that changes nothing: psycopg drops its prepared statements on
    // ROLLBACK, so the statement commits.)
    PausingJob job(sc,
                   "import psycopg\n"
                   "c = psycopg.connect(sys.argv[1], autocommit=True); cur = c.cursor()\n"
                   "sql = 'UPDATE cards SET holder = holder'\n"
                   "cur.execute(sql, prepare=True); print('first ran', flush=True)\n"
                   "pause()\n"
                   "try:\n"
                   "    cur.execute(sql, prepare=True); print('second ran', flush=True)\n"
                   "except psycopg.Error as e:\n"
                   "    print('second refused', e.sqlstate, str(e).strip(), flush=True)\n");
    decide(true, "UPDATE cards", [&] { return job.progress(); });
    job.applyWhilePaused(
        w, sc,
        withGuardrail(connectedPolicy(sharedPg()),
                      "{name: no-truncate, match: {statement: [truncate]}, action: block}"),
        "no truncates");
    auto r = job.finish();
    INFO(r.out << r.err << sc.log());
    CHECK(r.out.find("first ran") != std::string::npos);
    CHECK(r.out.find("second ran") != std::string::npos);
  }
  SECTION("what would refuse a statement refuses it before it is held") {
    // A `*` judged by the login's tables (hq_src), run after a call that may change them
    // (dynamic SQL) in a Query the unbounded DELETE sends for review: approved, it would run as
    // it is. Without the EXECUTE, the Query is held.
    auto held = std::async(std::launch::async, [&] {
      return sc.psql("select hq_dyn()\\; delete from hq_dst;\n", std::chrono::seconds(40));
    });
    decide(false, "delete from hq_dst");
    auto denied = held.get();
    INFO(denied.out << denied.err);
    CHECK(denied.err.find("not today") != std::string::npos);
    auto r = sc.psql(
        "prepare q as insert into hq_dst select * from hq_src;\n"
        "select hq_dyn()\\; delete from hq_dst\\; execute q;\n"
        "select 'after';\n",
        std::chrono::seconds(40));
    INFO(r.out << r.err << "\nsidecar log:\n" << sc.log());
    CHECK(r.err.find("prepared statement \"q\" stores a `*`") != std::string::npos);
    CHECK(r.out.find("after") != std::string::npos);
    CHECK(pendingApprovals(w.cp, w.approver).empty());
  }
  SECTION("a statement judged with a prepared statement an error then restored is refused") {
    // The Query (held, approved) fails before its PREPARE: `put` is the storing one again. The
    // Parse behind it, judged with the DELETE, would have been held for review and, approved,
    // run the UPDATE with hq_code()'s cvv: while the Query is unanswered it is refused.
    auto held = std::async(std::launch::async, [&] {
      return run({kSystemPython, "-c", std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("prepare put(text) as update hq_log set note = $1 where id = 1")))
ready()
s.sendall(msg(b"Q", z("select 1/0; deallocate put; prepare put(text) as delete from hq_log")) +
          msg(b"P", z("s") + z("execute put(hq_code())") + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("s") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
ready()
ready()
print("done")
)PY",
                  sc.conninfo()},
                 "", std::chrono::seconds(60));
    });
    decide(true, "prepare put");
    auto r = held.get();
    INFO(r.out << r.err << "\nsidecar log:\n" << sc.log());
    CHECK(r.out.find("division by zero") != std::string::npos);
    CHECK(r.out.find("redefined by a statement the server has not answered yet") !=
          std::string::npos);
    CHECK(pendingApprovals(w.cp, w.approver).empty());
    CHECK(r.out.find("done") != std::string::npos);
    CHECK(sharedPg().sqlOrThrow("select note from hq_log", kPgAppDatabase) == "n\n");
  }
  SECTION("a job that hangs up while its statement is held: approving it runs nothing") {
    // psql is killed while it waits for the answer: its connection ends with a FIN and no
    // Terminate. The held DELETE goes with the job instead of running for nobody.
    auto job = std::async(std::launch::async, [&] {
      return sc.psql("DELETE FROM hq_log;\n", std::chrono::seconds(8));
    });
    REQUIRE(eventually([&] { return !pendingApprovals(w.cp, w.approver).empty(); },
                       std::chrono::seconds(30)));
    auto killed = job.get();
    REQUIRE(killed.exit_code != 0);
    // The approval may be gone with the session already; where it is not, approve it.
    auto pending = pendingApprovals(w.cp, w.approver);
    if (!pending.empty()) {
      auto stub = v1::ApprovalService::NewStub(w.cp.channel());
      v1::ApprovalVoteRequest vote;
      vote.set_approval_id(pending.front().id());
      vote.set_comment("approved after the job left");
      v1::Approval out;
      auto ctx = authed(w.approver);
      (void)stub->Approve(ctx.get(), vote, &out);
    }
    // Another session's statement on the same worker comes after anything the old one sent.
    auto after = sc.psql("SELECT count(*) FROM hq_log;\n");
    INFO(after.err << "\nsidecar log:\n" << sc.log());
    CHECK(after.out == "1\n");
    CHECK(sharedPg().sqlOrThrow("select count(*) from hq_log", kPgAppDatabase) == "1\n");
  }
  SECTION("nobody decides: the deadline denies") {
    // The guardrail's approvers have 10 s (connectedPolicy); long enough that a loaded
    // machine still lists the pending approval in the other sections.
    auto r = sc.psql("DELETE FROM cards;\n", std::chrono::seconds(40));
    CHECK(r.err.find("42501") != std::string::npos);
    CHECK(r.err.find("deadline") != std::string::npos);
  }
}

TEST_CASE("an access rule with approval: required holds the connection until approved",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers, {"payments-fix", "repair", "repair-1", "uid-repair-1"});
  REQUIRE(sc.ready());
  auto job = std::async(std::launch::async, [&] { return sc.psql("SELECT 'in';\n"); });
  std::vector<v1::Approval> pending;
  REQUIRE(eventually([&] {
    pending = pendingApprovals(w.cp, w.approver);
    return !pending.empty();
  }));
  CHECK(pending.front().kind() == v1::Approval::KIND_GRANT);
  auto stub = v1::ApprovalService::NewStub(w.cp.channel());
  v1::ApprovalVoteRequest vote;
  vote.set_approval_id(pending.front().id());
  v1::Approval out;
  auto ctx = authed(w.approver);
  REQUIRE(stub->Approve(ctx.get(), vote, &out).ok());
  auto r = job.get();
  INFO(r.err << sc.log());
  CHECK(r.out.find("in") != std::string::npos);
}

TEST_CASE("killing the control plane under load loses and duplicates no audit event",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());
  constexpr int kStatements = 1500;
  // One session (its grant is held, so it survives the outage) running statements steadily.
  std::string script =
      "import sys, time, psycopg2\n"
      "c = psycopg2.connect(sys.argv[1]); c.autocommit = True; cur = c.cursor()\n"
      "for i in range(" +
      std::to_string(kStatements) +
      "):\n"
      "    cur.execute('SELECT %s', (i,)); cur.fetchall(); time.sleep(0.002)\n"
      "print('done')\n";
  TempDir tmp;
  auto path = tmp.write("load.py", script);
  auto job = std::async(std::launch::async, [&] {
    return run({kSystemPython, path, sc.conninfo()}, "", std::chrono::seconds(120));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  w.cp.kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  w.cp.start();
  REQUIRE(w.cp.ready());
  auto r = job.get();
  INFO(r.out << r.err << sc.log() << w.cp.log());
  REQUIRE(r.out.find("done") != std::string::npos);

  v1::SearchAuditRequest q;
  q.add_types(v1::EVENT_STATEMENT);
  q.set_subject("system:serviceaccount:payments-ci:nightly");
  std::vector<v1::AuditEvent> events;
  auto selects = [&] {
    return std::count_if(events.begin(), events.end(),
                         [](const auto& e) { return e.action().statement() == "SELECT $1"; });
  };
  eventually(
      [&] {
        events = searchAll(w.cp, w.auditor, q);
        return selects() >= kStatements;
      },
      std::chrono::seconds(20));
  std::set<uint64_t> seqs;
  std::string others;
  for (const auto& e : events) {
    CHECK(seqs.insert(e.source_sequence()).second);  // no duplicate
    if (e.action().statement() != "SELECT $1")
      others += std::to_string(e.source_sequence()) + ": " + e.action().statement() + "\n";
  }
  INFO("statements other than SELECT $1:\n" << others);
  CHECK(selects() == kStatements);

  // And the chain over everything verifies.
  auto stub = v1::AuditService::NewStub(w.cp.channel());
  v1::VerifyAuditResponse vr;
  auto ctx = authed(w.auditor, 60);
  REQUIRE(stub->Verify(ctx.get(), v1::VerifyAuditRequest(), &vr).ok());
  CHECK(vr.ok());
}

// The control plane de-duplicates replayed events by (source, source_sequence). The source was
// the sidecar's "sidecar/<pod name>": pods named alike in two namespaces and a pod recreated
// under its name (numbering again from 1) lost each other's events as "replays".
TEST_CASE("pods named alike in two namespaces and a recreated pod lose no audit event",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  PodSpec ci{"payments-ci", "nightly", "migrate-0", "4b2c9d6e-0000-4000-8000-00000000a001"};
  PodSpec ops{"payments-ops", "loader", "migrate-0", "4b2c9d6e-0000-4000-8000-00000000b001"};
  auto sc_ci = std::make_unique<ConnectedSidecar>(w.cp, w.issuers, ci);
  ConnectedSidecar sc_ops(w.cp, w.issuers, ops);
  REQUIRE(sc_ci->ready());
  REQUIRE(sc_ops.ready());
  // Both number their events from 1, interleaved.
  auto query = [](const ConnectedSidecar& sc, const std::string& sql) {
    auto r = sc.psql(sql);
    INFO(r.out << r.err << sc.log());
    CHECK(r.exit_code == 0);
  };
  query(*sc_ci, "SELECT 1 AS ci_one;\nSELECT 1 AS ci_two;\n");
  query(sc_ops, "SELECT 1 AS ops_one;\nSELECT 1 AS ops_two;\n");
  query(*sc_ci, "SELECT 1 AS ci_three;\n");
  query(sc_ops, "SELECT 1 AS ops_three;\n");
  // The StatefulSet recreates payments-ci/migrate-0: a new uid and a fresh spool.
  sc_ci->stop();
  ci.uid = "4b2c9d6e-0000-4000-8000-00000000a002";
  sc_ci = std::make_unique<ConnectedSidecar>(w.cp, w.issuers, ci);
  REQUIRE(sc_ci->ready());
  query(*sc_ci, "SELECT 1 AS again_one;\nSELECT 1 AS again_two;\n");

  const std::map<std::string, std::string> want = {
      {"SELECT $1 AS ci_one", "sidecar/payments-ci/migrate-0/4b2c9d6e-0000-4000-8000-00000000a001"},
      {"SELECT $1 AS ci_two", "sidecar/payments-ci/migrate-0/4b2c9d6e-0000-4000-8000-00000000a001"},
      {"SELECT $1 AS ci_three",
       "sidecar/payments-ci/migrate-0/4b2c9d6e-0000-4000-8000-00000000a001"},
      {"SELECT $1 AS ops_one",
       "sidecar/payments-ops/migrate-0/4b2c9d6e-0000-4000-8000-00000000b001"},
      {"SELECT $1 AS ops_two",
       "sidecar/payments-ops/migrate-0/4b2c9d6e-0000-4000-8000-00000000b001"},
      {"SELECT $1 AS ops_three",
       "sidecar/payments-ops/migrate-0/4b2c9d6e-0000-4000-8000-00000000b001"},
      {"SELECT $1 AS again_one",
       "sidecar/payments-ci/migrate-0/4b2c9d6e-0000-4000-8000-00000000a002"},
      {"SELECT $1 AS again_two",
       "sidecar/payments-ci/migrate-0/4b2c9d6e-0000-4000-8000-00000000a002"},
  };
  v1::SearchAuditRequest q;
  q.add_types(v1::EVENT_STATEMENT);
  std::map<std::string, std::string> got;  // statement -> source
  eventually(
      [&] {
        got.clear();
        for (const auto& e : searchAll(w.cp, w.auditor, q)) {
          if (want.count(e.action().statement())) {
            got[e.action().statement()] = e.location().source();
          }
        }
        return got.size() == want.size();
      },
      std::chrono::seconds(20));
  std::string wrong;
  for (const auto& [statement, source] : want) {
    auto it = got.find(statement);
    if (it == got.end() || it->second != source) {
      wrong +=
          statement + ": " + (it == got.end() ? "not stored" : "stored as " + it->second) + "\n";
    }
  }
  INFO(sc_ci->log() << sc_ops.log() << w.cp.log());
  INFO("wrong:\n" << wrong);
  CHECK(wrong.empty());
}

TEST_CASE("a record edited in the SQLite store is reported by verify", "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  {
    ConnectedSidecar sc(w.cp, w.issuers);
    REQUIRE(sc.ready());
    REQUIRE(sc.psql("SELECT 1;\nSELECT 2;\nSELECT 3;\n").exit_code == 0);
    v1::SearchAuditRequest q;
    q.add_types(v1::EVENT_STATEMENT);
    REQUIRE(eventually([&] { return searchAll(w.cp, w.auditor, q).size() >= 3; }));
  }
  w.cp.kill();
  // Someone with file access rewrites who ran statement records.
  auto r = run({kSystemPython, "-c",
                "import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); "
                "[d.execute('DROP TRIGGER ' + n) for (n,) in "
                "d.execute(\"SELECT name FROM sqlite_master WHERE type='trigger'\").fetchall()]; "
                "d.execute(\"UPDATE audit_records SET subject='someone-else' WHERE event_type=3\");"
                " d.commit()",
                w.cp.dbPath() + "/audit.db"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  w.cp.start();
  REQUIRE(w.cp.ready());
  auto stub = v1::AuditService::NewStub(w.cp.channel());
  v1::VerifyAuditResponse vr;
  auto ctx = authed(w.auditor, 60);
  REQUIRE(stub->Verify(ctx.get(), v1::VerifyAuditRequest(), &vr).ok());
  CHECK_FALSE(vr.ok());
  REQUIRE(vr.problems_size() > 0);
  CHECK(vr.problems(0).what().find("changed") != std::string::npos);
}

TEST_CASE("a sidecar restarted while the control plane is away refuses in PostgreSQL's protocol",
          "[controlplane][flow]") {
  World w;
  REQUIRE(w.cp.ready());
  ConnectedSidecar sc(w.cp, w.issuers);
  REQUIRE(sc.ready());
  REQUIRE(sc.psql("SELECT 1;").exit_code == 0);  // welcomed: the policy is cached
  sc.stop();
  w.cp.kill();
  sc.start();
  REQUIRE(sc.ready());
  auto r = sc.psql("SELECT 1;");
  INFO(r.err << sc.log());
  CHECK(r.exit_code != 0);
  // A FATAL the client can show, not a dropped connection; and no grant without the control
  // plane, since grants are never cached.
  CHECK(r.err.find("control plane is unreachable") != std::string::npos);
  CHECK(sc.log().find("using the cached policy") != std::string::npos);
}
