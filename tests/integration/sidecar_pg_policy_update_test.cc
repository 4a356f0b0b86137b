// A policy reload reaches the sessions already open, not only the next ones: statements,
// masking, prepared statements (decided again; a changed description answered with 0A000 so
// drivers prepare again), the role of the access rule, and the access rule itself (the session
// ends). Real PostgreSQL, a standalone sidecar, asyncpg and psycopg2 connections held across
// SIGHUP reloads.
#include <map>
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "absl/strings/str_replace.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using namespace tollgate::testing;

namespace {

// argv: port, sidecar pid, policy file, sidecar log, then the files of policy versions 2, 3
// and 4. Each reload copies the next file over the policy file, sends SIGHUP and waits for
// the sidecar to log it. Prints "check<TAB>value" lines.
constexpr char kScript[] = R"PY(
import asyncio, os, shutil, signal, sys, time
import asyncpg, psycopg2
port, pid, policy, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
versions = sys.argv[5:]
ONE = "select id, pan_num, cvv from cards where id = 1"
UPDATE_ALL = "update cards set holder = holder"
def out(k, v): print(k + "\t" + str(v), flush=True)
def err(e): return "%s %s %s" % (type(e).__name__, getattr(e, "sqlstate", "-"), e)
def reload(n):
    shutil.copyfile(versions[n - 2], policy)
    os.kill(pid, signal.SIGHUP)
    deadline = time.time() + 15
    while open(log).read().count("policy loaded") < n:
        if time.time() > deadline: raise SystemExit("reload %d not logged" % n)
        time.sleep(0.05)
async def check(key, fn):
    try:
        v = await fn()
        out(key, "|".join(str(x) for x in v) if isinstance(v, asyncpg.Record) else v)
    except Exception as e:
        out(key, err(e))
def row(r): return "|".join(str(v) for v in r)
async def main():
    a = await asyncpg.connect(host="127.0.0.1", port=port, user="job", password="x",
                              database="payments", ssl=False)
    p = psycopg2.connect(host="127.0.0.1", port=port, user="job", password="x",
                         dbname="payments", sslmode="disable")
    p.autocommit = True
    cur = p.cursor()
    def simple(sql):
        try:
            cur.execute(sql)
            return row(cur.fetchone()) if cur.description else "ok"
        except psycopg2.Error as e:
            return "%s %s" % (e.pgcode, (e.pgerror if e.pgcode else str(e)).strip())
    # Version 1: no guardrails, no column rules, pan_num keeps its type.
    await check("v1-fetch", lambda: a.fetchrow(ONE))
    ps = await a.prepare(ONE)
    await check("v1-prepared", lambda: ps.fetchrow())
    upd = await a.prepare(UPDATE_ALL)
    await check("v1-update", lambda: upd.fetch())
    out("v1-simple", simple("select cvv from cards where id = 1"))
    out("v1-sql-prepare", simple("prepare upd2 as " + UPDATE_ALL))
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
    reload(3)
    # Version 3: the job's access rule gives read instead of write.
    await check("v3-write", lambda: a.execute("update cards set holder = holder where id = 1"))
    await check("v3-read", lambda: a.fetchval("select count(*) from cards where id <= 6"))
    reload(4)
    # Version 4: no access rule for the job any more: its sessions end, new ones are refused.
    await check("v4-session", lambda: a.fetchval("select 1"))
    out("v4-psycopg2", simple("select 1"))
    try:
        await asyncpg.connect(host="127.0.0.1", port=port, user="job", password="x",
                              database="payments", ssl=False)
        out("v4-new", "connected")
    except Exception as e:
        out("v4-new", err(e))
    out("done", "yes")
async def prepared_again(a):
    return (await (await a.prepare(ONE)).fetchrow())
asyncio.run(main())
)PY";

}  // namespace

TEST_CASE("live sessions adopt a reloaded policy before their next statement") {
  if (run({kSystemPython, "-c", "import asyncpg, psycopg2"}).exit_code != 0) {
    SKIP("python3-asyncpg and python3-psycopg2 are needed");
  }
  auto& pg = sharedPg();
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
      absl::StrReplaceAll(v2, {{"\"payments-ops/*\"}], resources: [payments-db], role: write}",
                                "\"payments-ops/*\"}], resources: [payments-db], role: read}"}});
  REQUIRE(v3 != v2);
  const std::string v4 =
      absl::StrReplaceAll(v2, {{"serviceAccount: \"payments-ops/*\"", "serviceAccount: \"x/y\""}});
  REQUIRE(v4 != v2);

  auto script = sidecar.dir().write("policy_update.py", kScript);
  auto r = run({kSystemPython, script, std::to_string(sidecar.port()),
                std::to_string(sidecar.pid()), (sidecar.dir().path() / "policy.yaml").string(),
                (sidecar.dir().path() / "sidecar.log").string(), sidecar.dir().write("v2.yaml", v2),
                sidecar.dir().write("v3.yaml", v3), sidecar.dir().write("v4.yaml", v4)},
               "", std::chrono::seconds(90));
  auto rep = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  REQUIRE(at(rep, "done") == "yes");

  // Version 1 shows the card number's type kept (zeros for the hidden digits) and cvv as is.
  CHECK(at(rep, "v1-fetch") == "1|4111110000001111|123");
  CHECK(at(rep, "v1-prepared") == "1|4111110000001111|123");
  CHECK(at(rep, "v1-update") == "[]");
  CHECK(at(rep, "v1-simple") == "123");
  CHECK(at(rep, "v1-sql-prepare") == "ok");

  // Version 2 reaches the same connections: asyncpg's statement cache meets 0A000 from
  // RevalidateCachedQuery and prepares again by itself; the explicit prepared statement gets
  // that error, a new prepare gets the new description.
  CHECK(at(rep, "v2-fetch") == "1|411111******1111|***");
  CHECK_THAT(at(rep, "v2-prepared"), StartsWith("InvalidCachedStatementError 0A000"));
  CHECK(at(rep, "v2-prepared-again") == "1|411111******1111|***");
  // The update prepared under version 1 is decided again: review, refused in standalone mode.
  CHECK_THAT(at(rep, "v2-update"), StartsWith("InsufficientPrivilegeError 42501"));
  CHECK_THAT(at(rep, "v2-update"), ContainsSubstring("unbounded-delete"));
  CHECK_THAT(at(rep, "v2-update"), ContainsSubstring("decided again under policy version 2"));
  CHECK_THAT(at(rep, "v2-update-new"), StartsWith("InsufficientPrivilegeError 42501"));
  CHECK(at(rep, "v2-usable") == "still-usable");
  CHECK_THAT(at(rep, "v2-sql-execute"), StartsWith("42501"));
  CHECK(at(rep, "v2-simple") == "***");

  CHECK_THAT(at(rep, "v3-write"), StartsWith("InsufficientPrivilegeError 42501"));
  CHECK_THAT(at(rep, "v3-write"), ContainsSubstring("role:read"));
  CHECK(at(rep, "v3-read") == "6");

  // Losing access ends the sessions at once (FATAL 57P01 while they are idle, as a revoked
  // grant does): the next statement finds the connection gone (the drivers report the closed
  // connection rather than the FATAL before it; the session end events say why).
  CHECK_THAT(at(rep, "v4-session"), StartsWith("ConnectionDoesNotExistError"));
  CHECK_THAT(at(rep, "v4-psycopg2"), ContainsSubstring("server closed the connection"));
  CHECK_THAT(at(rep, "v4-new"), ContainsSubstring("28000"));

  // Events: statements after a reload carry the version they were decided under; the
  // refusals name their rules and SQLSTATEs.
  size_t v2_statements = 0, stale = 0, redecided = 0, ended = 0;
  for (const auto& e : sidecar.events()) {
    if (e.value("type", "") == "EVENT_SESSION_END" &&
        jstr(e, "/action/detail").find("no access rule grants") != std::string::npos &&
        jstr(e, "/action/detail").find("(policy version 4)") != std::string::npos) {
      ++ended;
    }
    if (e.value("type", "") != "EVENT_STATEMENT") continue;
    const long version = jnum(e, "/reason/policyVersion");
    v2_statements += version == 2;
    if (jstr(e, "/reason/ruleIds/0") == "policy:update") {
      ++stale;
      CHECK(jstr(e, "/result/errorCode") == "0A000");
      CHECK(version == 2);
    }
    if (jstr(e, "/reason/ruleIds/0") == "guardrail:unbounded-delete") {
      ++redecided;
      CHECK(version == 2);
    }
  }
  INFO("events:\n" << sidecar.eventsText());
  CHECK(v2_statements >= 6);
  CHECK(stale >= 2);      // the cached statement and the explicit one
  CHECK(redecided >= 3);  // the prepared update, a new one, SQL EXECUTE
  CHECK(ended == 2);
  CHECK_THAT(sidecar.log(), ContainsSubstring("session adopted a policy update"));
}
