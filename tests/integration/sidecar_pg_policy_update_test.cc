// A policy reload reaches the sessions already open, not only the next ones: statements,
// masking, prepared statements, portals and cursors (decided again; a changed description
// answered with 0A000 so drivers prepare again), and a changed role or lost access (the session
// ends). Real PostgreSQL, a standalone sidecar, asyncpg, psycopg2 and a bare protocol client
// holding sessions across SIGHUP reloads.
#include <map>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "absl/strings/str_replace.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using namespace tollgate::testing;

namespace {

// argv: port, sidecar pid, policy file, sidecar log, then the policy versions' files. Reloading
// copies a version's file over the policy file, sends SIGHUP and waits for the sidecar to log
// it. Scripts print "check<TAB>value" lines; Wire is a bare protocol client.
constexpr char kPyPrelude[] = R"PY(
import asyncio, os, shutil, signal, socket, struct, sys, time
import asyncpg
port, pid, policy, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
versions = sys.argv[5:]
def out(k, v): print(k + "\t" + str(v), flush=True)
def err(e): return "%s %s %s" % (type(e).__name__, getattr(e, "sqlstate", "-"), e)
def followed():
    t = open(log).read()
    return t.count("session adopted a policy update") + t.count("session ended by a policy update")
def reload(n):
    """Makes version n (versions[n - 2]) the policy, and waits for the sessions to take it."""
    before = followed()
    shutil.copyfile(versions[n - 2], policy)
    os.kill(pid, signal.SIGHUP)
    deadline = time.time() + 15
    while open(log).read().count("policy loaded") < n:
        if time.time() > deadline: raise SystemExit("reload %d not logged" % n)
        time.sleep(0.05)
    # The sessions get it through their worker's queue, all in one turn of its loop.
    while followed() == before and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
async def check(key, fn):
    try:
        v = await fn()
        out(key, "|".join(str(x) for x in v) if isinstance(v, asyncpg.Record) else v)
    except Exception as e:
        out(key, err(e))
async def connect():
    return await asyncpg.connect(host="127.0.0.1", port=port, user="job", password="x",
                                 database="payments", ssl=False)
# A bare protocol client, for message sequences drivers do not send on demand.
class Wire:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        body = struct.pack("!I", 196608) + b"user\0job\0database\0payments\0\0"
        self.s.sendall(struct.pack("!I", len(body) + 4) + body)
        self.ready()
    def message(self):
        while len(self.buf) < 5 or len(self.buf) < 1 + struct.unpack("!I", self.buf[1:5])[0]:
            chunk = self.s.recv(65536)
            if not chunk: raise EOFError("connection closed")
            self.buf += chunk
        n = struct.unpack("!I", self.buf[1:5])[0]
        t, body, self.buf = self.buf[0:1], self.buf[5:1 + n], self.buf[1 + n:]
        return t, body
    def ready(self):
        got = []
        while True:
            t, b = self.message()
            got.append((t, b))
            if t == b"Z": return got
    def send(self, t, body): self.s.sendall(t + struct.pack("!I", len(body) + 4) + body)
    def parse(self, name, sql):
        self.send(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", 0))
    def bind(self, portal, stmt):
        self.send(b"B", portal.encode() + b"\0" + stmt.encode() + b"\0" + struct.pack("!HHH", 0, 0, 0))
    def execute(self, portal): self.send(b"E", portal.encode() + b"\0" + struct.pack("!I", 0))
    def sync(self): self.send(b"S", b"")
    def query(self, sql): self.send(b"Q", sql.encode() + b"\0")
def errors(got):
    out = []
    for t, b in got:
        if t == b"E":
            f = dict((x[0:1].decode(), x[1:].decode()) for x in b.split(b"\0") if x)
            out.append(f.get("C", "") + " " + f.get("M", ""))
    return ";".join(out) or "no error"
def error_text(got):
    """SQLSTATE, message and detail of the errors in `got`."""
    out = []
    for t, b in got:
        if t == b"E":
            f = dict((x[0:1].decode(), x[1:].decode()) for x in b.split(b"\0") if x)
            out.append(" ".join(f.get(k, "") for k in "CMD"))
    return ";".join(out) or "no error"
)PY";

// Runs the prelude and `body` with `sidecar`, whose policy versions 2, 3, ... are `versions`.
RunResult runWithReloads(const Sidecar& sidecar, const std::string& name, const char* body,
                         const std::vector<std::string>& versions,
                         std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {
      kSystemPython,
      sidecar.dir().write(name + ".py", std::string(kPyPrelude) + body),
      std::to_string(sidecar.port()),
      std::to_string(sidecar.pid()),
      (sidecar.dir().path() / "policy.yaml").string(),
      (sidecar.dir().path() / "sidecar.log").string()};
  for (size_t i = 0; i < versions.size(); ++i) {
    argv.push_back(sidecar.dir().write("v" + std::to_string(i + 2) + ".yaml", versions[i]));
  }
  return run(argv, "", timeout);
}

// Versions 2 to 5 (see the test case).
constexpr char kScript[] = R"PY(
import psycopg2
ONE = "select id, pan_num, cvv from cards where id = 1"
UPDATE_ALL = "update cards set holder = holder"
async def main():
    a = await connect()
    p = psycopg2.connect(host="127.0.0.1", port=port, user="job", password="x",
                         dbname="payments", sslmode="disable")
    p.autocommit = True
    cur = p.cursor()
    def simple(sql):
        try:
            cur.execute(sql)
            return "|".join(str(v) for v in cur.fetchone()) if cur.description else "ok"
        except psycopg2.Error as e:
            return "%s %s" % (e.pgcode, (e.pgerror if e.pgcode else str(e)).strip())
    w = Wire()
    # Version 1: no guardrails, no column rules, pan_num keeps its type.
    await check("v1-fetch", lambda: a.fetchrow(ONE))
    ps = await a.prepare(ONE)
    await check("v1-prepared", lambda: ps.fetchrow())
    upd = await a.prepare(UPDATE_ALL)
    await check("v1-update", lambda: upd.fetch())
    out("v1-simple", simple("select cvv from cards where id = 1"))
    out("v1-sql-prepare", simple("prepare upd2 as " + UPDATE_ALL))
    out("v1-sql-prepare-holder", simple("prepare sel_h as select holder from cards where id = 1"))
    out("v1-sql-execute-holder", simple("execute sel_h"))
    simple("begin")
    simple("declare c cursor with hold for select holder from cards order by id")
    simple("commit")
    out("v1-cursor", simple("fetch 1 from c"))
    # A protocol-prepared EXECUTE of a SQL-prepared statement.
    w.query("prepare sel_hw as select holder from cards where id = 1")
    w.ready()
    w.parse("w_exec_h", "execute sel_hw")
    w.sync()
    out("v1-wire-execute", errors(w.ready()))
    # A portal bound in a transaction from the unnamed statement, which is then parsed again:
    # the portal still runs the update.
    w.query("begin")
    w.ready()
    w.parse("", UPDATE_ALL)
    w.bind("p1", "")
    w.parse("", "select 1")
    w.sync()
    out("v1-wire", errors(w.ready()))
    # A transaction whose deferred unique check will fail on a cvv it copied: under version 1
    # nothing is masked, so nothing in it may quote masked data yet.
    wd = Wire()
    wd.query("begin")
    wd.ready()
    wd.query("insert into tg_dup select cvv from cards where id = 1")
    wd.ready()
    wd.query("insert into tg_dup select cvv from cards where id = 1")
    out("v1-deferred", errors(wd.ready()))
    # The same in the implicit transaction of an extended-protocol batch whose Sync has not
    # been sent yet (Flush makes the server answer the inserts).
    wi = Wire()
    for _ in range(2):
        wi.parse("", "insert into tg_dup2 select cvv from cards where id = 1")
        wi.bind("", "")
        wi.execute("")
    wi.send(b"H", b"")
    # And a WITH HOLD cursor declared in such a batch: its query runs at the Sync.
    wh = Wire()
    wh.parse("", "declare hc cursor with hold for select (cvv || 'x')::int from cards where id = 1")
    wh.bind("", "")
    wh.execute("")
    wh.send(b"H", b"")
    for w_, n in ((wi, 2), (wh, 1)):
        completed = 0
        while completed < n:
            t, b = w_.message()
            if t == b"E": raise SystemExit("v1 batch failed: %r" % b)
            completed += t == b"C"
    reload(2)
    # Version 2: the cvv column rule, pan_num described as text, unbounded updates reviewed.
    await check("v2-fetch", lambda: a.fetchrow(ONE))  # asyncpg prepares its cached one again
    await check("v2-prepared", lambda: ps.fetchrow())
    await check("v2-prepared-again", lambda: prepared_again(a))
    await check("v2-update", lambda: upd.fetch())
    await check("v2-update-new", lambda: a.execute(UPDATE_ALL))
    await check("v2-usable", lambda: a.fetchval("select 'still-usable'"))
    out("v2-sql-execute", simple("execute upd2"))
    out("v2-simple", simple("select cvv from cards where id = 1"))
    w.execute("p1")
    w.sync()
    out("v2-wire-portal", errors(w.ready()))
    w.query("rollback")
    out("v2-wire-rollback", errors(w.ready()))
    # The check runs now and its error quotes the copied cvv, which version 2 masks.
    wd.query("set constraints all immediate")
    out("v2-deferred", error_text(wd.ready()))
    wd.query("rollback")
    wd.ready()
    wi.sync()  # commits: the deferred check fails and quotes the cvv
    out("v2-deferred-batch", error_text(wi.ready()))
    wh.sync()
    out("v2-hold-cursor-batch", error_text(wh.ready()))
    reload(3)
    # Version 3: also a guardrail against statements naming holder.
    await check("v3-prepared", lambda: ps.fetchrow())  # described under version 1
    await check("v3-fetch", lambda: a.fetchrow(ONE))
    out("v3-sql-execute-holder", simple("execute sel_h"))
    out("v3-cursor", simple("fetch 1 from c"))
    w.bind("", "w_exec_h")
    w.execute("")
    w.sync()
    out("v3-wire-execute", errors(w.ready()))
    reload(4)
    # Version 4: the job's access rule gives read instead of write: the sessions end.
    await check("v4-session", lambda: a.fetchval("select 1"))
    out("v4-psycopg2", simple("select 1"))
    a2 = await connect()
    await check("v4-write", lambda: a2.execute("update cards set holder = holder where id = 1"))
    await check("v4-read", lambda: a2.fetchval("select count(*) from cards where id <= 6"))
    reload(5)
    # Version 5: no access rule for the job any more: its sessions end, new ones are refused.
    await check("v5-session", lambda: a2.fetchval("select 1"))
    try:
        await connect()
        out("v5-new", "connected")
    except Exception as e:
        out("v5-new", err(e))
    out("done", "yes")
async def prepared_again(a):
    return (await (await a.prepare(ONE)).fetchrow())
asyncio.run(main())
)PY";

// Version 2 turns `audit: sync` on.
constexpr char kSyncScript[] = R"PY(
ONE = "select holder from cards where id = 1"
async def main():
    a = await connect()
    ps = await a.prepare(ONE)
    await check("v1-prepared", ps.fetchval)
    await check("v1-cached", lambda: a.fetchval(ONE))
    w = Wire()
    w.query("prepare sqlp as " + ONE)
    out("v1-sql-prepare", errors(w.ready()))
    reload(2)
    # Bind names the SQL-prepared statement: a protocol Execute, refused like a Parse's; SQL
    # EXECUTE is a Query, held for its own record.
    w.bind("", "sqlp")
    w.execute("")
    w.sync()
    out("v2-bind-sql-prepared", errors(w.ready()))
    w.query("execute sqlp")
    out("v2-sql-execute", errors(w.ready()))
    await check("v2-prepared", ps.fetchval)
    await check("v2-cached", lambda: a.fetchval(ONE))  # asyncpg prepares it again by itself
    await check("v2-prepared-again", lambda: prepared_again(a))
    out("done", "yes")
async def prepared_again(a):
    return await (await a.prepare(ONE)).fetchval()
asyncio.run(main())
)PY";

// A statement storing a `*` judged by its tables' columns at login, then the session's DDL, then
// version 2 (guardrails on): the policy update decides the statement again, and it must stay
// refused (the table it reads may now have other columns).
constexpr char kStaleStarsScript[] = R"PY(
w = Wire()
w.query("prepare ins as insert into tg_star_dst select * from tg_star_src")
out("v1-prepare", errors(w.ready()))
w.query("execute ins")
out("v1-execute", errors(w.ready()))
w.query("create temporary table tg_star_tmp (id int)")
out("v1-ddl", errors(w.ready()))
w.query("execute ins")
out("v1-execute-after-ddl", errors(w.ready()))
reload(2)
w.query("execute ins")
out("v2-execute", errors(w.ready()))
w.query("select 1")
out("v2-usable", errors(w.ready()))
out("done", "yes")
)PY";

}  // namespace

// Statements prepared before a policy turned `audit: sync` on were never announced by an
// acknowledged record: their next Execute is answered as a stale plan (0A000 from
// RevalidateCachedQuery), which drivers with statement caches recover from by parsing again,
// and that Parse waits for its record.
TEST_CASE("turning audit: sync on makes statements prepared before it parse again") {
  if (run({kSystemPython, "-c", "import asyncpg"}).exit_code != 0) {
    SKIP("python3-asyncpg is needed");
  }
  auto& pg = sharedPg();
  const SidecarOptions o = writeGrant();
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  const std::string cred = (sidecar.dir().path() / "cred").string();
  const std::string v2 = "defaults: {audit: sync}\n" + standardPolicy(pg, cred, o.policy);
  auto r = runWithReloads(sidecar, "sync_update", kSyncScript, {v2}, std::chrono::seconds(60));
  auto rep = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  REQUIRE(at(rep, "done") == "yes");
  CHECK(at(rep, "v1-prepared") == "Alice Visa");
  CHECK(at(rep, "v1-cached") == "Alice Visa");
  CHECK_THAT(at(rep, "v2-prepared"), StartsWith("InvalidCachedStatementError 0A000"));
  CHECK(at(rep, "v2-cached") == "Alice Visa");
  CHECK(at(rep, "v2-prepared-again") == "Alice Visa");
  CHECK(at(rep, "v1-sql-prepare") == "no error");
  CHECK_THAT(at(rep, "v2-bind-sql-prepared"), StartsWith("0A000 cached plan must not change"));
  CHECK(at(rep, "v2-sql-execute") == "no error");
  // The statements parsed again were recorded before the server saw them; the three Executes
  // refused (the explicit prepared statement's, the statement cache's first try, the Bind of
  // the SQL-prepared one) were recorded as refused by rule audit:sync, with the reason.
  size_t recorded_first = 0, refused = 0;
  for (const auto& e : sidecar.events()) {
    if (jstr(e, "/action/detail") == "recorded before forwarding (audit: sync)") ++recorded_first;
    if (jstr(e, "/reason/ruleIds/0") == "audit:sync") {
      ++refused;
      CHECK(jstr(e, "/result/errorCode") == "0A000");
      CHECK_THAT(jstr(e, "/result/errorMessage") + jstr(e, "/reason/message"),
                 ContainsSubstring("requires audit: sync"));
    }
  }
  INFO("events:\n" << sidecar.eventsText());
  CHECK(recorded_first >= 2);
  CHECK(refused == 3);
}

TEST_CASE("live sessions follow policy reloads: decisions, masking, names, role, access") {
  if (run({kSystemPython, "-c", "import asyncpg, psycopg2"}).exit_code != 0) {
    SKIP("python3-asyncpg and python3-psycopg2 are needed");
  }
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tg_dup; drop table if exists tg_dup2; "
      "create table tg_dup (v text unique deferrable initially deferred); "
      "create table tg_dup2 (v text unique deferrable initially deferred); "
      "alter table tg_dup owner to app; alter table tg_dup2 owner to app",
      "payments");
  SidecarOptions o;
  o.subject = kOpsSubject;  // access rule ops-write
  o.policy.guardrails = false;
  o.policy.column_rules = false;
  o.policy.keep_number_types = "[pan_num]";
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  const std::string cred = (sidecar.dir().path() / "cred").string();
  const std::string v2 = standardPolicy(pg, cred, PolicyOptions{});
  const std::string v3 =
      absl::StrReplaceAll(v2, {{"guardrails:\n",
                                "guardrails:\n  - {name: no-holder, match: {pattern: \"holder\"}, "
                                "action: block}\n"}});
  const std::string v4 =
      absl::StrReplaceAll(v3, {{"\"payments-ops/*\"}], resources: [payments-db], role: write}",
                                "\"payments-ops/*\"}], resources: [payments-db], role: read}"}});
  const std::string v5 =
      absl::StrReplaceAll(v4, {{"serviceAccount: \"payments-ops/*\"", "serviceAccount: \"x/y\""}});
  REQUIRE(v3 != v2);
  REQUIRE(v4 != v3);
  REQUIRE(v5 != v4);

  auto r =
      runWithReloads(sidecar, "policy_update", kScript, {v2, v3, v4, v5}, std::chrono::seconds(90));
  auto rep = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  REQUIRE(at(rep, "done") == "yes");

  // Version 1 shows the card number's type kept (zeros for the hidden digits) and cvv as is.
  CHECK(at(rep, "v1-fetch") == "1|4111110000001111|123");
  CHECK(at(rep, "v1-prepared") == "1|4111110000001111|123");
  CHECK(at(rep, "v1-update") == "[]");
  CHECK(at(rep, "v1-simple") == "123");
  CHECK(at(rep, "v1-sql-prepare") == "ok");
  CHECK(at(rep, "v1-sql-prepare-holder") == "ok");
  CHECK(at(rep, "v1-sql-execute-holder") == "Alice Visa");
  CHECK(at(rep, "v1-cursor") == "Alice Visa");
  CHECK(at(rep, "v1-wire") == "no error");
  CHECK(at(rep, "v1-wire-execute") == "no error");

  // Version 2 reaches the same connections: asyncpg's statement cache meets 0A000 from
  // RevalidateCachedQuery and prepares again by itself; the explicit prepared statement gets
  // that error, a new prepare gets the new description.
  CHECK(at(rep, "v2-fetch") == "1|411111******1111|***");
  CHECK_THAT(at(rep, "v2-prepared"), StartsWith("InvalidCachedStatementError 0A000"));
  CHECK(at(rep, "v2-prepared-again") == "1|411111******1111|***");
  // Statements prepared under version 1 are decided again: the update needs a review, refused
  // in standalone mode, by Execute of the prepared statement, of a portal bound from a
  // statement whose name was parsed again since, and by SQL EXECUTE.
  CHECK_THAT(at(rep, "v2-update"), StartsWith("InsufficientPrivilegeError 42501"));
  CHECK_THAT(at(rep, "v2-update"), ContainsSubstring("unbounded-delete"));
  CHECK_THAT(at(rep, "v2-update"), ContainsSubstring("decided again under policy version 2"));
  // An error later in a transaction that read a newly masked column withholds the values it
  // quotes, although the statement that copied them was decided under version 1.
  CHECK(at(rep, "v1-deferred") == "no error");
  CHECK_THAT(at(rep, "v2-deferred"), StartsWith("23505 duplicate key value"));
  CHECK_THAT(at(rep, "v2-deferred"), !ContainsSubstring("123"));
  CHECK_THAT(at(rep, "v2-deferred-batch"), StartsWith("23505 duplicate key value"));
  CHECK_THAT(at(rep, "v2-deferred-batch"), !ContainsSubstring("123"));
  CHECK_THAT(at(rep, "v2-hold-cursor-batch"), StartsWith("22P02 invalid input syntax"));
  CHECK_THAT(at(rep, "v2-hold-cursor-batch"), !ContainsSubstring("123"));
  CHECK_THAT(at(rep, "v2-wire-portal"), StartsWith("42501"));
  CHECK_THAT(at(rep, "v2-wire-portal"), ContainsSubstring("decided again under policy version 2"));
  CHECK(at(rep, "v2-wire-rollback") == "no error");
  CHECK_THAT(at(rep, "v2-update-new"), StartsWith("InsufficientPrivilegeError 42501"));
  CHECK(at(rep, "v2-usable") == "still-usable");
  CHECK_THAT(at(rep, "v2-sql-execute"), StartsWith("42501"));
  CHECK(at(rep, "v2-simple") == "***");

  // Version 3 changes guardrails only: the statement described under version 1 is still told
  // otherwise than version 3 describes it. A SQL EXECUTE and a FETCH carry no text of their
  // own for the new pattern guardrail: the statement and cursor were decided again.
  CHECK_THAT(at(rep, "v3-prepared"), StartsWith("InvalidCachedStatementError 0A000"));
  CHECK(at(rep, "v3-fetch") == "1|411111******1111|***");
  CHECK_THAT(at(rep, "v3-sql-execute-holder"), StartsWith("42501"));
  CHECK_THAT(at(rep, "v3-sql-execute-holder"), ContainsSubstring("no-holder"));
  CHECK_THAT(at(rep, "v3-sql-execute-holder"),
             ContainsSubstring("decided again under policy version 3"));
  CHECK_THAT(at(rep, "v3-cursor"), StartsWith("42501"));
  CHECK_THAT(at(rep, "v3-cursor"), ContainsSubstring("decided again under policy version 3"));
  // A protocol-prepared "EXECUTE sel_hw" runs what sel_hw stands for, refused since.
  CHECK_THAT(at(rep, "v3-wire-execute"), StartsWith("42501"));
  CHECK_THAT(at(rep, "v3-wire-execute"), ContainsSubstring("decided again under policy version 3"));

  // Version 4 gives the job read instead of write: the sessions end at once (FATAL 57P01 while
  // idle, as for a revoked grant; the drivers report the closed connection, the session end
  // events say why); a new session runs with the read role.
  CHECK_THAT(at(rep, "v4-session"), StartsWith("ConnectionDoesNotExistError"));
  CHECK_THAT(at(rep, "v4-psycopg2"), ContainsSubstring("server closed the connection"));
  CHECK_THAT(at(rep, "v4-write"), StartsWith("InsufficientPrivilegeError 42501"));
  CHECK_THAT(at(rep, "v4-write"), ContainsSubstring("role:read"));
  CHECK(at(rep, "v4-read") == "6");
  // Version 5 takes the access away.
  CHECK_THAT(at(rep, "v5-session"), StartsWith("ConnectionDoesNotExistError"));
  CHECK_THAT(at(rep, "v5-new"), ContainsSubstring("28000"));

  // Events: statements after a reload carry the version they were decided under; the
  // refusals name their rules and SQLSTATEs; the session ends say why.
  size_t v2_statements = 0, stale = 0, redecided = 0, role_ended = 0, access_ended = 0;
  for (const auto& e : sidecar.events()) {
    const std::string detail = jstr(e, "/action/detail");
    if (e.value("type", "") == "EVENT_SESSION_END") {
      role_ended += detail.find("now gives role read instead of write") != std::string::npos &&
                    detail.find("(policy version 4)") != std::string::npos;
      access_ended += detail.find("no access rule grants") != std::string::npos &&
                      detail.find("(policy version 5)") != std::string::npos;
    }
    if (e.value("type", "") != "EVENT_STATEMENT") continue;
    const long version = jnum(e, "/reason/policyVersion");
    v2_statements += version == 2;
    if (jstr(e, "/reason/ruleIds/0") == "policy:update") {
      ++stale;
      CHECK(jstr(e, "/result/errorCode") == "0A000");
      CHECK(version >= 2);
    }
    if (jstr(e, "/reason/ruleIds/0") == "guardrail:unbounded-delete") {
      ++redecided;
      CHECK(version == 2);
    }
  }
  INFO("events:\n" << sidecar.eventsText());
  CHECK(v2_statements >= 6);
  CHECK(stale >= 3);       // the cached statement, the explicit one twice
  CHECK(redecided >= 4);   // the prepared update, the portal, a new one, SQL EXECUTE
  CHECK(role_ended == 6);  // asyncpg, psycopg2 and the four bare protocol clients
  CHECK(access_ended == 1);
  CHECK_THAT(sidecar.log(), ContainsSubstring("session adopted a policy update"));
}

TEST_CASE("a statement refused for a stale `*` stays refused across a policy update") {
  if (run({kSystemPython, "-c", "import asyncpg"}).exit_code != 0) {
    SKIP("python3-asyncpg is needed");
  }
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create table if not exists tg_star_src (id int, total numeric);"
      "create table if not exists tg_star_dst (like tg_star_src);"
      "alter table tg_star_src owner to app; alter table tg_star_dst owner to app;"
      "truncate tg_star_src, tg_star_dst; insert into tg_star_src values (1, 10);",
      "payments");
  Sidecar sidecar(pg, adminGrant());  // its DDL runs
  REQUIRE(sidecar.ready());
  const std::string cred = (sidecar.dir().path() / "cred").string();
  const std::string v2 = standardPolicy(pg, cred, PolicyOptions{});
  auto r =
      runWithReloads(sidecar, "stale_stars", kStaleStarsScript, {v2}, std::chrono::seconds(60));
  auto rep = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  REQUIRE(at(rep, "done") == "yes");
  CHECK(at(rep, "v1-prepare") == "no error");
  CHECK(at(rep, "v1-execute") == "no error");
  CHECK(at(rep, "v1-ddl") == "no error");
  const std::string stale = "42501 blocked by rule \"masking:copy\": prepared statement \"ins\"";
  CHECK_THAT(at(rep, "v1-execute-after-ddl"), StartsWith(stale));
  CHECK_THAT(at(rep, "v2-execute"), StartsWith(stale));
  CHECK(at(rep, "v2-usable") == "no error");
  CHECK(pg.sqlOrThrow("select count(*) from tg_star_dst", "payments") == "1\n");
}
