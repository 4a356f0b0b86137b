// Audit events of real sessions through the sidecar: session start/end, one statement event per
// statement with normalised text and decisions, and no card number anywhere in events or logs.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// The statement events of one session, in order.
std::vector<nlohmann::json> statementsOf(const std::vector<nlohmann::json>& events,
                                         const std::string& session) {
  std::vector<nlohmann::json> out;
  for (const auto& e : events) {
    if (e.value("type", "") == "EVENT_STATEMENT" && jstr(e, "/location/sessionId") == session) {
      out.push_back(e);
    }
  }
  return out;
}

// Card numbers in every form a job might send them: literals in WHERE, INSERT values (blocked),
// function arguments, comments, prepared statement parameters.
constexpr char kSessionSql[] =
    "select holder, pan, cvv from cards where pan_vc = '4111111111111111';\n"
    "select id from cards where pan_num = 5555555555554444 /* 6011111111111117 */;\n"
    "insert into cards (id, holder, pan) values (900, 'x', '378282246310005');\n"
    "select upper('3530111333300000'), length('30569309025904');\n"
    "prepare find(text) as select holder from cards where pan_vc = $1;\n"
    "execute find('6011111111111117');\n"
    "drop table cards;\n"
    "select * from cards where id <= 6 order by id;\n";

}  // namespace

TEST_CASE(
    "a session's events: start, every statement normalised with its decision, end; "
    "no card number in events or logs") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(kSessionSql);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(sidecar.waitForEvent(
      [](const nlohmann::json& e) { return e.value("type", "") == "EVENT_SESSION_END"; }));
  auto events = sidecar.events();
  INFO("events:\n" << sidecar.eventsText());

  // Every line is JSON with the fields an auditor needs.
  for (const auto& e : events) {
    REQUIRE_FALSE(e.contains("unparsable"));
    CHECK(!e.value("id", "").empty());
    CHECK(!e.value("time", "").empty());
    CHECK(jstr(e, "/identity/subject") == kCiSubject);
    CHECK(jstr(e, "/location/resource") == "payments-db");
    CHECK(jstr(e, "/location/protocol") == "postgres");
  }

  // Exactly one session: start first, end last.
  REQUIRE(events.size() >= 2);
  CHECK(events.front().value("type", "") == "EVENT_SESSION_START");
  CHECK(events.back().value("type", "") == "EVENT_SESSION_END");
  std::string session = jstr(events.front(), "/location/sessionId");
  REQUIRE(!session.empty());
  CHECK(jstr(events.back(), "/location/sessionId") == session);
  CHECK(jstr(events.front(), "/reason/decision") == "DECISION_ALLOW");
  CHECK_THAT(jstr(events.front(), "/action/detail"), ContainsSubstring("upstream_tls=TLSv1."));

  auto statements = statementsOf(events, session);
  REQUIRE(statements.size() == 8);
  auto stmt = [&](size_t i) { return jstr(statements[i], "/action/statement"); };
  auto decision = [&](size_t i) { return jstr(statements[i], "/reason/decision"); };
  // Literals are replaced by placeholders; comments are dropped.
  CHECK(stmt(0) == "select holder, pan, cvv from cards where pan_vc = $1");
  CHECK(decision(0) == "DECISION_ALLOW");
  CHECK(jnum(statements[0], "/result/rows") == 1);
  CHECK(jnum(statements[0], "/result/valuesMasked") == 2);  // pan and cvv
  CHECK(stmt(1).find("6011") == std::string::npos);
  CHECK(jnum(statements[1], "/result/rows") == 1);
  CHECK(decision(2) == "DECISION_BLOCK");
  CHECK(jstr(statements[2], "/result/errorCode") == "42501");
  CHECK(!statements[2]["reason"]["ruleIds"].empty());
  CHECK(stmt(6) == "drop table cards");
  CHECK(decision(6) == "DECISION_BLOCK");
  CHECK(statements[6]["reason"]["ruleIds"][0] == "role:read");
  CHECK(jstr(statements[6], "/action/statementClass") == "ddl");
  CHECK(stmt(7) == "select * from cards where id <= $1 order by id");
  CHECK(jnum(statements[7], "/result/rows") == 6);
  CHECK(jnum(statements[7], "/result/valuesMasked") > 0);
  CHECK(statements[7]["action"]["objects"][0] == "cards");

  // PCI DSS 3.5.1 / 3.3.1: no card number, in any form, in the audit trail or the log.
  std::string all = sidecar.eventsText() + sidecar.log();
  CHECK(luhnRuns(all).empty());
  CHECK(sampleSecretsIn(all).empty());
  // And the job saw only masked values.
  CHECK(sampleSecretsIn(r.out).empty());
}

TEST_CASE("refused connections and blocked statements are audited without card numbers") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.subject = kStrangerSubject;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = run({"psql", "-X", "-At", "-d",
                sidecar.conninfo("sslmode=disable application_name="
                                 "4111111111111111"),
                "-c", "select 1"});
  CHECK(r.exit_code != 0);
  REQUIRE(sidecar.waitForEvent(
      [](const nlohmann::json& e) { return jstr(e, "/type") == "EVENT_CONNECTION_REFUSED"; }));
  auto events = sidecar.events();
  INFO("events:\n" << sidecar.eventsText());
  REQUIRE(events.size() == 1);  // no session started, so no session start/end
  const auto& e = events[0];
  CHECK(jstr(e, "/identity/subject") == kStrangerSubject);
  CHECK(jstr(e, "/reason/decision") == "DECISION_BLOCK");
  CHECK(e.value(nlohmann::json::json_pointer("/result/success"), true) == false);
  CHECK_THAT(jstr(e, "/action/detail"), ContainsSubstring("no access rule"));
  std::string all = sidecar.eventsText() + sidecar.log();
  CHECK(luhnRuns(all).empty());
  CHECK(sampleSecretsIn(all).empty());
}

// Review: without --events, audit: sync refused every statement blaming "control plane
// unreachable, audit spool not writable, or events file not writable", none of which was so.
TEST_CASE("audit: sync without an events file refuses statements saying there is no sink") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.events = false;
  o.policy.defaults = "{audit: sync}";
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nlog: " << sidecar.log());
  CHECK(r.out.empty());
  CHECK_THAT(r.err, ContainsSubstring("42501: tollgate: audit: sync is in force and this sidecar "
                                      "records no audit events (standalone mode without "
                                      "--events); the statement was not run"));
  CHECK(r.err.find("control plane unreachable") == std::string::npos);
  CHECK_THAT(sidecar.log(), ContainsSubstring("no --events file: audit events are not recorded"));
}

TEST_CASE("the session end counts statements run, not protocol messages") {
  // Regression: Bind, Describe and Sync of the extended protocol were counted as statements.
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // libpq's PQexecParams speaks the extended protocol: Parse, Bind, Describe, Execute, Sync.
  auto r = sidecar.python(
      "import ctypes, sys\n"
      "pq = ctypes.CDLL('libpq.so.5')\n"
      "pq.PQconnectdb.restype = ctypes.c_void_p\n"
      "pq.PQexecParams.restype = ctypes.c_void_p\n"
      "conn = ctypes.c_void_p(pq.PQconnectdb(sys.argv[1].encode()))\n"
      "for i in range(3):\n"
      "    res = pq.PQexecParams(conn, b'select 1', 0, None, None, None, None, 0)\n"
      "    assert pq.PQresultStatus(ctypes.c_void_p(res)) == 2  # PGRES_TUPLES_OK\n"
      "    pq.PQclear(ctypes.c_void_p(res))\n"
      "pq.PQfinish(conn)\n");
  REQUIRE(r.exit_code == 0);
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_SESSION_END" &&
           jstr(e, "/action/detail").rfind("statements=3 blocked=0", 0) == 0;
  }));
}

namespace {

// A table `name` (id, n) with the row (1, 0), owned by the job's role.
void createCounter(PgServer& pg, const std::string& name) {
  pg.sqlOrThrow("create table if not exists " + name + " (id int primary key, n int);" +
                    "insert into " + name + " values (1, 0) on conflict do nothing;" +
                    "alter table " + name + " owner to app;",
                "payments");
}

}  // namespace

// Regressions: a statement was audited only when the server answered it, so one sent right
// before the job hung up ran with no statement event; then it got one that said it failed
// (08006), although the server ran it and a write committed. The sidecar now keeps the upstream
// session until the server has answered what it was sent.
TEST_CASE("a statement the job hangs up on is audited with how it ended") {
  auto& pg = sharedPg();
  createCounter(pg, "hangup_counter");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  // With a Terminate, and without one (the socket just closes).
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("select pg_sleep(0.5); update hangup_counter set n = n + 1 where id = 1"))
          + msg(b"X", b""))
s.close()
)PY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("update hangup_counter set n = n + 10 where id = 1")))
s.close()
)PY");
  REQUIRE(r.exit_code == 0);
  auto updates = [](int64_t want) {
    return [want](const nlohmann::json& e) {
      return jstr(e, "/type") == "EVENT_STATEMENT" &&
             jstr(e, "/action/statementType") == "update" && jbool(e, "/result/success") &&
             jnum(e, "/result/rows") == want;
    };
  };
  CHECK(sidecar.waitForEvent(updates(1)));
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_STATEMENT" &&
           jstr(e, "/action/statement").find("pg_sleep") != std::string::npos &&
           jbool(e, "/result/success");
  }));
  CHECK(pg.sqlOrThrow("select n from hangup_counter where id = 1", "payments") == "11\n");
  // Round 6: a write in an implicit transaction the job never synced is rolled back by the
  // server; its statement succeeded, and the session end event says the change did not stay.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"P", z("") + z("update hangup_counter set n = n + 1000 where id = 1") +
              struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"H", b""))
while read_message()[0] != b"C": pass
s.close()
)PY");
  REQUIRE(r.exit_code == 0);
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_SESSION_END" &&
           jstr(e, "/action/detail").find("uncommitted_changes=rolled_back") != std::string::npos;
  }));
  CHECK(pg.sqlOrThrow("select n from hangup_counter where id = 1", "payments") == "11\n");
  // The server ends the session while the sidecar waits for a write's answer: the write is
  // audited with the server's error and did not take effect. A read is not waited for.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("update hangup_counter set n = n + 100 where id = 1 "
                      "and pg_sleep(30) is not null")) + msg(b"X", b""))
s.close()
)PY");
  REQUIRE(r.exit_code == 0);
  for (int i = 0; i < 100; ++i) {
    if (pg.sqlOrThrow("select pg_terminate_backend(pid) from pg_stat_activity where query like "
                      "'%pg_sleep(30)%' and pid <> pg_backend_pid()",
                      "payments") == "t\n") {
      break;
    }
    usleep(50000);
  }
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_STATEMENT" && jstr(e, "/action/statementType") == "update" &&
           !jbool(e, "/result/success") && jstr(e, "/result/errorCode") == "57P01";
  }));
  CHECK(pg.sqlOrThrow("select n from hangup_counter where id = 1", "payments") == "11\n");
}

// Regression: a write that succeeded in an implicit transaction which a later error in the same
// Query string or extended batch ended was audited as a lasting change, with nothing saying the
// server rolled it back. Now an implicit_rollback event follows; a COMMIT before the error, or
// an explicit block (its ROLLBACK is audited), keeps it from coming.
TEST_CASE("an implicit transaction rolled back by a later error is audited") {
  auto& pg = sharedPg();
  createCounter(pg, "implicit_counter");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto rollbacks = [&sidecar] {
    std::vector<std::string> details;
    for (const auto& e : sidecar.events()) {
      if (jstr(e, "/action/statementType") == "implicit_rollback") {
        details.push_back(jstr(e, "/action/detail"));
      }
    }
    return details;
  };
  auto marker = [&sidecar](const std::string& label) {
    auto r = sidecar.python(std::string(kPyRawWire) + "startup('job', 'payments')\n" +
                            "s.sendall(msg(b'Q', z('select 1 as " + label + "')))\n" +
                            "while read_message()[0] != b'Z': pass\n");
    REQUIRE(r.exit_code == 0);
    REQUIRE(sidecar.waitForEvent([&](const nlohmann::json& e) {
      return jstr(e, "/action/statement").find(label) != std::string::npos;
    }));
  };
  // A Query string: the update runs, the division fails, the server undoes the update.
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("update implicit_counter set n = n + 1 where id = 1; select 1/0")))
while read_message()[0] != b"Z": pass
)PY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/action/statementType") == "implicit_rollback";
  }));
  CHECK(rollbacks() == std::vector<std::string>{
                           "an error (SQLSTATE 22012) ended the implicit transaction; the server "
                           "rolled back the 1 change made in it, whose statements were reported "
                           "successful"});
  CHECK(pg.sqlOrThrow("select n from implicit_counter where id = 1", "payments") == "0\n");
  // An extended batch: two updates, then a statement the policy blocks (DROP), one Sync.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def execute(sql):
    return (msg(b"P", z("") + z(sql) + struct.pack("!h", 0)) +
            msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
            msg(b"E", z("") + struct.pack("!i", 0)))
s.sendall(execute("update implicit_counter set n = n + 1 where id = 1") +
          execute("update implicit_counter set n = n + 2 where id = 1") +
          execute("drop table implicit_counter") + msg(b"S", b""))
while read_message()[0] != b"Z": pass
)PY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/action/detail").find("SQLSTATE 42501") != std::string::npos &&
           jstr(e, "/action/detail").find("2 changes") != std::string::npos;
  }));
  CHECK(pg.sqlOrThrow("select n from implicit_counter where id = 1", "payments") == "0\n");
  // A COMMIT before the error: the update stays, and no rollback is reported. An explicit block
  // left failed: the client's ROLLBACK is its own statement event.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("update implicit_counter set n = n + 5 where id = 1; commit; select 1/0")))
while read_message()[0] != b"Z": pass
s.sendall(msg(b"Q", z("begin; update implicit_counter set n = n + 7 where id = 1; select 1/0")))
while read_message()[0] != b"Z": pass
s.sendall(msg(b"Q", z("rollback")))
while read_message()[0] != b"Z": pass
)PY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  marker("implicit_marker");
  CHECK(rollbacks().size() == 2);
  CHECK(pg.sqlOrThrow("select n from implicit_counter where id = 1", "payments") == "5\n");

  // Red-team round 8: a procedure may COMMIT or ROLLBACK itself, so after one the outcome of
  // the batch's changes is not known from the protocol: the audit says so instead of claiming
  // a rollback (the COMMIT case: the update and the procedure's own stay) or nothing (the
  // ROLLBACK case: the update is undone without an error).
  pg.sqlOrThrow(
      "create or replace procedure implicit_commit() language plpgsql as $$ begin "
      "update implicit_counter set n = n + 100 where id = 1; commit; end $$;"
      "create or replace procedure implicit_undo() language plpgsql as $$ begin rollback; end $$;"
      "create or replace procedure implicit_commit_fail() language plpgsql as $$ begin "
      "update implicit_counter set n = n + 10000 where id = 1; commit; perform 1/0; end $$;"
      "alter procedure implicit_commit_fail() owner to app;"
      "create or replace procedure implicit_plain() language plpgsql as $$ begin "
      "update implicit_counter set n = n + 3 where id = 1; end $$;"
      "alter procedure implicit_plain() owner to app;"
      "alter procedure implicit_commit() owner to app; alter procedure implicit_undo() owner to "
      "app;",
      "payments");
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def execute(sql):
    return (msg(b"P", z("") + z(sql) + struct.pack("!h", 0)) +
            msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
            msg(b"E", z("") + struct.pack("!i", 0)))
s.sendall(execute("update implicit_counter set n = n + 10 where id = 1") +
          execute("call implicit_commit()") + execute("select 1/0") + msg(b"S", b""))
while read_message()[0] != b"Z": pass
s.sendall(execute("update implicit_counter set n = n + 1000 where id = 1") +
          execute("call implicit_undo()") + msg(b"S", b""))
while read_message()[0] != b"Z": pass
# Round 9: a procedure that commits, then fails; COMMIT of a failed block.
s.sendall(msg(b"Q", z("call implicit_commit_fail()")))
while read_message()[0] != b"Z": pass
for sql in ("begin", "update implicit_counter set n = n + 7 where id = 1", "select 1/0", "commit"):
    s.sendall(msg(b"Q", z(sql)))
    while read_message()[0] != b"Z": pass
# Code review: in a multi-statement Query a procedure cannot COMMIT: a plain rollback.
s.sendall(msg(b"Q", z("update implicit_counter set n = n + 1 where id = 1; "
                      "call implicit_plain(); select 1/0")))
while read_message()[0] != b"Z": pass
)PY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  marker("procedure_marker");
  CHECK(pg.sqlOrThrow("select n from implicit_counter where id = 1", "payments") == "10115\n");
  bool commit_rolled_back = false;
  for (const auto& e : sidecar.events()) {
    commit_rolled_back |= jstr(e, "/action/statementType") == "commit" &&
                          jstr(e, "/reason/message").find("rolled it back") != std::string::npos;
  }
  CHECK(commit_rolled_back);
  REQUIRE(rollbacks().size() == 3);  // none claimed for the procedure batches
  CHECK(rollbacks()[2].find("rolled back the 2 changes") != std::string::npos);
  std::vector<std::string> unknown;
  for (const auto& e : sidecar.events()) {
    if (jstr(e, "/action/statementType") == "outcome_unknown") {
      unknown.push_back(jstr(e, "/action/detail"));
    }
  }
  CHECK(unknown == std::vector<std::string>{
                       "a procedure (CALL or DO) in the implicit transaction may have committed "
                       "before the error (SQLSTATE 22012) that ended it: whether its changes and "
                       "the 1 change before it stayed is unknown",
                       "a procedure (CALL or DO) in the implicit transaction may have rolled "
                       "back the 1 change made before it: whether they stayed is unknown",
                       "a procedure (CALL or DO) in the implicit transaction may have committed "
                       "before the error (SQLSTATE 22012) that ended it: whether its changes "
                       "stayed is unknown"});
}

// A protocol Execute of a DECLAREd cursor's portal is the FETCH it does, not the DECLARE again.
TEST_CASE("Execute of a cursor's portal is audited as a FETCH from it") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("begin; declare audit_cur cursor for select id from cards")))
while read_message()[0] != b"Z": pass
s.sendall(msg(b"E", z("audit_cur") + struct.pack("!i", 2)) + msg(b"S", b""))
while read_message()[0] != b"Z": pass
s.sendall(msg(b"Q", z("commit")) + msg(b"X", b""))
)PY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_STATEMENT" && jstr(e, "/action/statementType") == "fetch" &&
           jstr(e, "/action/statement").find("audit_cur") != std::string::npos &&
           jnum(e, "/result/rows") == 2;
  }));
}

// Review (session 24): a session the sidecar ended (access taken away by a reload, the sidecar
// shutting down) had its sockets closed, but PostgreSQL notices a closed client only when it
// writes: the statement ran on, and a write committed seconds after the job was told its session
// was over. The statement in flight is now cancelled first.
TEST_CASE("a statement in flight when the sidecar ends its session is cancelled, not committed") {
  auto& pg = sharedPg();
  createCounter(pg, "ended_counter");
  pg.sqlOrThrow("update ended_counter set n = 0 where id = 1", "payments");
  const std::string slow_update =
      "update ended_counter set n = n + 1 where id = 1 and pg_sleep(4) is not null";
  const std::string running_sql =
      "select count(*) from pg_stat_activity where query like 'update ended_counter%' and "
      "pid <> pg_backend_pid()";
  // Polls for up to 2 s: less than the statement's sleep.
  auto waitRunning = [&](long want) {
    long n = -1;
    for (int i = 0; i < 40 && n != want; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      n = std::stol(pg.sqlOrThrow(running_sql, "payments"));
    }
    return n == want;
  };
  SECTION("access taken away by a policy reload") {
    Sidecar sidecar(pg, writeGrant());
    REQUIRE(sidecar.ready());
    RunResult job;
    std::thread t([&] { job = sidecar.psql(slow_update + ";\n"); });
    REQUIRE(waitRunning(1));
    const auto policy = sidecar.dir().path() / "policy.yaml";
    std::string text = readWholeFile(policy.string());
    const std::string from = "resources: [payments-db], role: write}";
    REQUIRE(text.find(from) != std::string::npos);
    text.replace(text.find(from), from.size(), "resources: [payments-db], role: read}");
    sidecar.dir().write("policy.yaml", text);
    ::kill(sidecar.pid(), SIGHUP);
    t.join();
    INFO(job.out << job.err << sidecar.log());
    CHECK_THAT(job.err, ContainsSubstring("now gives role read"));
    CHECK(waitRunning(0));  // cancelled well before its 4 s sleep ends
    CHECK_THAT(sidecar.log(), ContainsSubstring("cancelling the statement in flight"));
  }
  SECTION("the sidecar shutting down") {
    SidecarOptions o = writeGrant();
    o.extra_args = {"--drain-seconds", "0"};
    Sidecar sidecar(pg, o);
    REQUIRE(sidecar.ready());
    RunResult job;
    std::thread t([&] { job = sidecar.psql(slow_update + ";\n"); });
    REQUIRE(waitRunning(1));
    ::kill(sidecar.pid(), SIGTERM);
    t.join();
    INFO(job.out << job.err << sidecar.log());
    CHECK_THAT(job.err, ContainsSubstring("shutting down"));
    CHECK(waitRunning(0));
  }
  std::this_thread::sleep_for(std::chrono::seconds(4));
  CHECK(pg.sqlOrThrow("select n from ended_counter where id = 1", "payments") == "0\n");
}
