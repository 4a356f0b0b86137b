// Writes that would store data a rule masks where it is read unmasked (masking.copies: refuse),
// through the real sidecar and a real PostgreSQL: copies from a column, a view, a function, a
// prepared statement's arguments; INSERT ... SELECT * judged by the columns of the tables the
// star expands to, and judged again once the session may have changed tables (DDL, an admin
// statement, a fast-path call, a call of one of the database's own functions whose body may);
// composite values judged by their fields, also after such a function changed their type
// (sidecar_pg_copies_triggers_test.cc: triggers, rules and PL/pgSQL variables;
// sidecar_pg_copies_named_test.cc: named statements, cursors, portals, EXECUTE's arguments).
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

constexpr int kPgresTuplesOk = 2;

// libpq through ctypes, one step per argument after the conninfo: "x:SQL" runs SQL with
// PQexecParams (an unnamed Parse), "p:SQL" prepares it as statement "ins" (PQprepare), "e:"
// runs "ins" (PQexecPrepared). One JSON line per step: its result status and error.
constexpr char kLibpqStepsScript[] = R"PY(
import ctypes, json, sys
pq = ctypes.CDLL("libpq.so.5")
P, S, I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
for name, res, args in [("PQconnectdb", P, [S]), ("PQstatus", I, [P]),
                        ("PQexecParams", P, [P, S, I, P, P, P, P, I]),
                        ("PQprepare", P, [P, S, S, I, P]),
                        ("PQexecPrepared", P, [P, S, I, P, P, P, I]),
                        ("PQresultStatus", I, [P]), ("PQresultErrorMessage", S, [P])]:
    f = getattr(pq, name); f.restype = res; f.argtypes = args
conn = pq.PQconnectdb(sys.argv[1].encode())
if pq.PQstatus(conn) != 0:
    sys.exit(1)
for step in sys.argv[2:]:
    kind, sql = step[0], step[2:].encode()
    if kind == "p":
        res = pq.PQprepare(conn, b"ins", sql, 0, None)
    elif kind == "e":
        res = pq.PQexecPrepared(conn, b"ins", 0, None, None, None, 0)
    else:
        res = pq.PQexecParams(conn, sql, 0, None, None, None, None, 0)
    print(json.dumps({"step": step, "status": pq.PQresultStatus(res),
                      "error": (pq.PQresultErrorMessage(res) or b"").decode()}))
)PY";

// kLibpqStepsScript's results for `steps` through `sidecar`, one per step.
std::vector<nlohmann::json> libpqSteps(const Sidecar& sidecar,
                                       const std::vector<std::string>& steps) {
  auto r = sidecar.python(kLibpqStepsScript, steps);
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<nlohmann::json> results;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(r.out, '\n', absl::SkipEmpty()))) {
    results.push_back(nlohmann::json::parse(line));
  }
  REQUIRE(results.size() == steps.size());
  return results;
}

std::string stepError(const nlohmann::json& step) { return step["error"].get<std::string>(); }

}  // namespace

TEST_CASE("a write storing masked data where it is read unmasked is refused, session usable") {
  auto& pg = sharedPg();
  // A table, a view renaming cvv and a function returning it, all there before the login: the
  // session follows the view and the function.
  pg.sqlOrThrow(
      "create table if not exists card_notes (id int primary key, note text, cvv text);"
      "alter table card_notes owner to app;"
      "create or replace view card_secrets as select id, cvv as secret from cards;"
      "alter view card_secrets owner to app;"
      // An updatable view whose cvv column is the table's note.
      "create or replace view card_notes_v as select id, note as cvv from card_notes;"
      "alter view card_notes_v owner to app;"
      "create or replace function card_code(i int) returns text language sql stable "
      "as $$ select cvv from cards where id = i $$;"
      // Functions that copy it themselves, and one that calls such a function.
      "create or replace function stash_codes() returns void language sql "
      "as $$ update card_notes n set note = c.cvv from cards c where c.id = n.id $$;"
      "create or replace function stash_more() returns void language plpgsql as $$ begin "
      "insert into card_notes (id, note) select id + 100, cvv from cards; end $$;"
      "create or replace function stash_all() returns int language sql "
      "as $$ select stash_codes(); select 1 $$;"
      // Quoted names holding a dot: one that copies, one that calls it, one returning cvv.
      "create or replace function \"stash.dotted\"() returns void language sql "
      "as $$ update card_notes n set note = c.cvv from cards c where c.id = n.id $$;"
      "create or replace function stash_dotted() returns int language sql "
      "as $$ select 1 where \"stash.dotted\"() is not null $$;"
      "create or replace function \"code.of\"(i int) returns text language sql stable "
      "as $$ select cvv from cards where id = i $$;"
      // A logging function: it stores what it is given.
      "create or replace function log_note(m text) returns void language sql "
      "as $$ update card_notes set note = m where id = 1 $$;"
      "truncate card_notes; insert into card_notes select id, 'n', null from cards;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "update card_notes n set note = c.cvv from cards c where c.id = n.id;\n"
      "update card_notes n set note = s.secret from card_secrets s where s.id = n.id;\n"
      "update card_notes set note = card_code(id) where id = 1;\n"
      "insert into card_notes select id, holder, cvv from cards on conflict do nothing;\n"
      "select stash_codes();\n"
      "select stash_more();\n"
      "select stash_all();\n"
      "select stash_dotted();\n"
      "update card_notes_v v set cvv = c.cvv from cards c where c.id = v.id;\n"
      "select log_note(cvv) from cards where id = 1;\n"
      "select 1 from cards where id = 1 and log_note(cvv) is null;\n"
      "select log_note(\"code.of\"(1));\n"
      "prepare put_note(text) as update card_notes set note = $1 where id = 1;\n"
      // (The server takes no sub-select there; a function's result it does.)
      "execute put_note(card_code(1));\n"
      "begin;\n"
      "update card_notes set note = 'x' where id = 1;\n"
      "update card_notes n set note = upper(c.cvv) from cards c where c.id = n.id;\n"
      "rollback;\n"
      // Stored where the same rule masks it: allowed, and read back masked.
      "update card_notes n set cvv = c.cvv from cards c where c.id = n.id;\n"
      "select log_note('n');\n"
      "execute put_note('n');\n"
      "select count(*) from card_notes where note = 'n';\n"
      "select cvv from card_notes where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 14);
  CHECK_THAT(r.err, ContainsSubstring("in column note, which no rule masks"));
  CHECK_THAT(r.err, ContainsSubstring("in columns it does not name"));
  CHECK_THAT(r.err, !ContainsSubstring("current transaction is aborted"));  // ROLLBACK ran
  const std::string masked_cvv(sampleCards()[0].cvv.size(), '*');
  const std::string rows = std::to_string(sampleCards().size());
  CHECK(r.out == "PREPARE\nBEGIN\nUPDATE 1\nROLLBACK\nUPDATE " + rows + "\n\nUPDATE 1\n" + rows +
                     "\n" + masked_cvv + "\n");
  CHECK(sampleSecretsIn(r.out + r.err).empty());
  // Nothing reached the table.
  CHECK(pg.sqlOrThrow("select count(*) from card_notes where note <> 'n' or id > 100",
                      kPgAppDatabase) == "0\n");

  // The extended protocol's Parse is judged the same way (libpq PQexecParams and PQprepare).
  const std::string copy = "update card_notes set note = cvv where id = 2";
  auto steps = libpqSteps(
      sidecar, {"x:" + copy, "p:" + copy, "e:", "x:select count(*) from cards where id <= 6"});
  CHECK_THAT(stepError(steps[0]), ContainsSubstring("masking:copy"));
  CHECK_THAT(stepError(steps[1]), ContainsSubstring("masking:copy"));
  // PQprepare was refused, so its statement does not exist.
  CHECK_THAT(stepError(steps[2]), ContainsSubstring("does not exist"));
  CHECK(steps[3]["status"] == kPgresTuplesOk);

  // Each refusal is a blocked statement event naming the rule, with the normalised text.
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/reason/decision") == "DECISION_BLOCK" &&
           e.value("/reason/ruleIds"_json_pointer, nlohmann::json::array()) ==
               nlohmann::json::array({"masking:copy"}) &&
           jstr(e, "/action/statement") ==
               "update card_notes set note = card_code(id) where id = $1";
  }));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("INSERT ... SELECT * is judged by the columns its tables had at login") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create table if not exists orders_src (id int, total numeric, status text);"
      "create table if not exists orders_archive (like orders_src);"
      "create table if not exists cards_archive as table cards with no data;"
      "alter table orders_src owner to app; alter table orders_archive owner to app;"
      "alter table cards_archive owner to app;"
      "alter table orders_src drop column if exists cvv;"
      "alter table orders_archive drop column if exists note;"
      "truncate orders_src, orders_archive, cards_archive;"
      "insert into orders_src values (1, 10, 'paid'), (2, 20, 'new');"
      // The database's own functions: one that only reads, one that creates a table, which
      // could shadow orders_src, and one that calls it.
      "create or replace function tg_noop() returns int language sql as 'select 1';"
      "create or replace function tg_mktemp() returns void language plpgsql as "
      "$$ begin create temp table if not exists tg_shadow (id int); end $$;"
      "create or replace function tg_calls_mktemp() returns int language sql as "
      "'select tg_mktemp(); select 1';"
      // Two calls away; through a quoted name holding a dot; two that call each other; a chain
      // of 71 functions, longer than the sidecar follows (64).
      "create or replace function tg_outer() returns int language plpgsql as "
      "$$ begin return tg_calls_mktemp(); end $$;"
      "create or replace function \"tg.dotted\"() returns int language plpgsql as "
      "$$ begin create temp table if not exists tg_shadow (id int); return 1; end $$;"
      "create or replace function tg_calls_dotted() returns int language sql as "
      "'select \"tg.dotted\"()';"
      "create or replace function tg_ping(n int) returns int language plpgsql as "
      "$$ begin if n > 0 then return tg_pong(n - 1); end if; return 1; end $$;"
      "create or replace function tg_pong(n int) returns int language plpgsql as "
      "$$ begin return tg_ping(n); end $$;"
      "do $$ begin for i in 0..69 loop execute format('create or replace function tg_c%s() "
      "returns int language plpgsql as $f$ begin return tg_c%s(); end $f$', i, i + 1); "
      "end loop; end $$;"
      "create or replace function tg_c70() returns int language sql as 'select 1';",
      kPgAppDatabase);
  Sidecar sidecar(pg, adminGrant());  // its DDL runs
  REQUIRE(sidecar.ready());

  // The extended protocol: a statement prepared before the session changed a table was judged
  // by the columns the table had; the server analyses it again, so its Execute is refused.
  auto steps = libpqSteps(sidecar, {"p:insert into orders_archive select * from orders_src",
                                    "x:alter table orders_archive add column note text", "e:"});
  CHECK(stepError(steps[0]) == "");
  CHECK(stepError(steps[1]) == "");
  CHECK_THAT(stepError(steps[2]),
             ContainsSubstring("blocked by rule \"masking:copy\": prepared statement \"ins\""));

  // After a call of one of the database's own functions that may create tables, the login's
  // tables are not trusted; a function that only reads changes nothing.
  auto r = sidecar.psql(
      "select tg_noop(), tg_ping(3), tg_c60();\n"
      "insert into orders_archive select * from orders_src where false;\n");
  CHECK(r.out == "1|1|1\nINSERT 0 0\n");
  CHECK(r.err == "");
  for (const char* call : {"tg_mktemp", "tg_calls_mktemp", "tg_outer", "tg_calls_dotted"}) {
    r = sidecar.psql("select " + std::string(call) +
                     "() is null;\n"
                     "insert into orders_archive select * from orders_src where false;\n");
    INFO(call << " stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.out == "f\n");  // void is not null
    CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  }
  // Past the functions followed, any of them may.
  r = sidecar.psql(
      "select tg_c0();\n"
      "insert into orders_archive select * from orders_src where false;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  // So after an admin statement: an extension's script may create tables.
  r = sidecar.psql(
      "create extension if not exists citext;\n"
      "insert into orders_archive select * from orders_src;\n");
  CHECK(r.out == "CREATE EXTENSION\n");
  CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  // And after a fast-path call, which names its function by OID only (pg_backend_pid here).
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"F", struct.pack("!IHHH", 2026, 0, 0, 0)))
types = []
while not types or types[-1] != "Z":
    types.append(read_message()[0].decode())
print("".join(types))
s.sendall(msg(b"Q", z("insert into orders_archive select * from orders_src")))
ready()
)PY");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.out.rfind("VZ\n", 0) == 0);
  CHECK_THAT(r.out, ContainsSubstring("blocked by rule \"masking:copy\""));

  r = sidecar.psql(
      // Tables without masked columns: nothing masked is stored.
      "insert into orders_archive select * from orders_src;\n"
      "insert into orders_archive select o.* from orders_src o join cards c on c.id = o.id;\n"
      // cards has cvv: by position it could land anywhere.
      "insert into cards_archive select * from cards;\n"
      "insert into orders_archive select c.* from orders_src o join cards c on c.id = o.id;\n"
      // A value between two stars; a join alias that hides the table it names.
      "insert into orders_archive select o.*, c.cvv, t.* from orders_src o, cards c, "
      "orders_src t where false;\n"
      "insert into orders_archive select o.* from (orders_src o join cards c on c.id = o.id) "
      "as o where false;\n"
      // Named, it lands where the same rule masks it.
      "insert into cards_archive (id, cvv) select id, cvv from cards;\n"
      // The session changes a table: from then on its columns are not the login's, and a
      // statement prepared before is judged again.
      "prepare ins as insert into orders_archive select * from orders_src;\n"
      "alter table orders_src add column cvv text;\n"
      "update orders_src o set cvv = c.cvv from cards c where c.id = o.id;\n"
      "insert into orders_archive select * from orders_src;\n"
      "execute ins;\n"
      "select count(*) from orders_archive;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 6);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in columns it does not name"));
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"ins\" stores a `*`"));
  const std::string cards = std::to_string(sampleCards().size());
  CHECK(r.out ==
        "INSERT 0 2\nINSERT 0 2\nINSERT 0 " + cards + "\nPREPARE\nALTER TABLE\nUPDATE 2\n4\n");
  CHECK(pg.sqlOrThrow("select count(*) from orders_archive where note is not null",
                      kPgAppDatabase) == "0\n");

  // A later session reads the table as it is now.
  r = sidecar.psql("insert into orders_archive select * from orders_src;\n");
  CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in columns it does not name"));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("a statement refused before it runs leaves the login's tables trusted") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists rf_src, rf_dst, rf_src_old, rf_pan;"
      "create table rf_src (id int, total text); create table rf_dst (like rf_src);"
      "insert into rf_src values (1, '10'); grant all on rf_src, rf_dst to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());  // a write grant: DDL is refused
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "alter table rf_src add column cvv text;\n"
      "insert into rf_dst select * from rf_src;\n"
      "prepare p as insert into rf_dst select * from rf_src;\n"
      "drop table rf_src;\n"
      "execute p;\n"
      "select count(*) from rf_dst;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, "blocked by rule \"role:write\"") == 2);
  CHECK(countOf(r.err, kCopyRefused) == 0);
  CHECK(r.out == "INSERT 0 1\nPREPARE\nINSERT 0 1\n2\n");

  // Sent in one Query, DDL before an EXECUTE of a statement judged by the tables: the server
  // analyses that statement again after the DDL, so it is refused with the Query.
  pg.sqlOrThrow(
      "drop table if exists rf_pan; create table rf_pan (id int, cvv text);"
      "insert into rf_pan values (1, '777'); alter table rf_pan owner to app;"
      "alter table rf_src owner to app;",
      kPgAppDatabase);
  Sidecar admin(pg, adminGrant());  // its DDL runs
  REQUIRE(admin.ready());
  r = admin.psql(
      "prepare q as insert into rf_dst select * from rf_src;\n"
      "alter table rf_src rename to rf_src_old\\; alter table rf_pan rename to rf_src\\; "
      "execute q;\n"
      "execute q;\n"
      "select count(*) from rf_dst;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << admin.log());
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"q\" stores a `*`"));
  CHECK(r.out == "PREPARE\nINSERT 0 1\n3\n");
  CHECK(pg.sqlOrThrow("select count(*) from rf_dst where total = '777'", kPgAppDatabase) == "0\n");
}

TEST_CASE("the functions a view's definition calls store with the statement reading it") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists vf_orders, vf_archive, vf_log cascade;"
      "create table vf_orders (id int, total int); insert into vf_orders values (1, 10);"
      "create table vf_archive (like vf_orders);"
      "create table vf_log (id serial, note text);"
      // A function copying a cvv into the log, one that only reads; views calling them in their
      // WHERE and FROM only, none in a column.
      "create or replace function vf_keep_cvv() returns boolean language sql as "
      "$$ insert into vf_log (note) select cvv from cards order by id limit 1; select true $$;"
      "create or replace function vf_rows() returns setof vf_orders language plpgsql as "
      "$$ begin insert into vf_log (note) select cvv from cards order by id limit 1; "
      "return query select * from vf_orders; end $$;"
      "create or replace function vf_true() returns boolean language sql as 'select true';"
      // One that creates a table, which could shadow vf_orders.
      "create or replace function vf_mktemp() returns boolean language plpgsql as $$ begin "
      "create temp table if not exists vf_tmp (id int); return true; end $$;"
      "create or replace view vf_ddl as select id from vf_orders where vf_mktemp();"
      // One storing what it is given, handed a cvv only in a view's WHERE; a WHERE whose
      // failing cast quotes the cvv.
      "create or replace function vf_note(m text) returns boolean language sql as "
      "$$ insert into vf_log (note) values (m); select true $$;"
      "create or replace view vf_args as select id from cards where vf_note(cvv);"
      "create or replace view vf_cast as select id from cards where (cvv || 'x')::int > 0;"
      "create or replace view vf_where as select id, total from vf_orders where vf_keep_cvv();"
      "create or replace view vf_from as select id from vf_rows();"
      "create or replace view vf_plain as select id from vf_orders where vf_true();"
      "grant all on vf_orders, vf_archive, vf_log, vf_where, vf_from, vf_plain, vf_ddl, vf_args, "
      "vf_cast to app;"
      "grant all on sequence vf_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select count(*) from vf_where;\n"
      "select count(*) from vf_from;\n"
      "select count(*) from vf_plain;\n"
      "select count(*) from vf_args;\n"
      "insert into vf_archive select * from vf_orders;\n"
      // The `*` after it in one Query is judged as any column.
      "select count(*) from vf_ddl\\; insert into vf_archive select * from vf_orders;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 4);
  CHECK(r.out == "1\nINSERT 0 1\n");
  // An error the view's WHERE raises may quote the cvv: its values are withheld.
  auto cast = sidecar.psql("select id from vf_cast;\n");
  INFO("stdout: " << cast.out << "\nstderr: " << cast.err);
  CHECK_THAT(cast.err, ContainsSubstring("invalid input syntax for type integer"));
  for (const auto& card : sampleCards()) CHECK_THAT(cast.err, !ContainsSubstring(card.cvv + "x"));
  CHECK(pg.sqlOrThrow("select count(*) from vf_archive", kPgAppDatabase) == "1\n");
  CHECK(pg.sqlOrThrow("select count(*) from vf_log", kPgAppDatabase) == "0\n");
}

TEST_CASE("a `*` a function's body stores is judged by the columns its tables had at login") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists fs_orders, fs_orders_archive, fs_cards_archive, fs_audit, fs_cards "
      "cascade;"
      "create table fs_orders (id int, total int); create table fs_orders_archive (like fs_orders);"
      "create table fs_cards_archive as table cards with no data;"
      "insert into fs_orders values (1, 10), (2, 20);"
      "create or replace function fs_archive_orders() returns void language sql "
      "as $$ insert into fs_orders_archive select * from fs_orders $$;"
      "create or replace function fs_archive_cards() returns void language plpgsql "
      "as $$ begin insert into fs_cards_archive select * from cards; end $$;"
      // It may create a table first: the login's columns no longer tell.
      "create or replace function fs_archive_after_ddl() returns void language plpgsql as $$ "
      "begin create temp table if not exists fs_tmp (id int); "
      "insert into fs_orders_archive select * from fs_orders; end $$;"
      // A trigger storing a `*` over orders beside the written row.
      "create table fs_audit (id int, total int, row_data jsonb);"
      "create table fs_cards (id int, holder text, cvv text); insert into fs_cards values (1, 'F', "
      "'7');"
      "create or replace function fs_audit_row() returns trigger language plpgsql as $$ begin "
      "insert into fs_audit select o.*, to_jsonb(new) from fs_orders o limit 1; return new; end $$;"
      "create trigger a after update on fs_cards for each row execute function fs_audit_row();"
      // A table made from a `*` over a view that renames cvv keeps the view's name for it.
      "drop table if exists fs_snap; create or replace view fs_codes as select id, cvv as code "
      "from cards;"
      "create or replace function fs_snapshot() returns void language plpgsql as $$ begin "
      "create table fs_snap as select * from fs_codes; end $$;"
      "grant all on fs_orders, fs_orders_archive, fs_cards_archive, fs_audit, fs_cards to app;"
      "grant select on fs_codes to app; grant create on schema public to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select fs_archive_orders();\n"
      "select fs_archive_cards();\n"
      "select fs_archive_after_ddl();\n"
      "update fs_cards set holder = 'x' where id = 1;\n"
      "select fs_snapshot();\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 4);
  CHECK(pg.sqlOrThrow("select to_regclass('fs_snap') is null", kPgAppDatabase) == "t\n");
  CHECK(r.out == "\n");
  CHECK(pg.sqlOrThrow("select count(*) from fs_audit", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from fs_orders_archive", kPgAppDatabase) == "2\n");
  CHECK(pg.sqlOrThrow("select count(*) from fs_cards_archive", kPgAppDatabase) == "0\n");
}

TEST_CASE("a composite value stored elsewhere is judged by its fields") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists wallet_copy; drop table if exists tg_textlog;"
      "create extension if not exists postgres_fdw;"
      "drop server if exists tg_nowhere cascade;"
      "drop table if exists tg_parted_wallet, tg_parent_wallet;"
      "drop domain if exists tg_copyrec_d;"
      "drop type if exists tg_copyrec; drop domain if exists tg_amount;"
      "drop type if exists tg_swaprec;"
      "create type tg_copyrec as (holder text, cvv text);"
      "create type tg_swaprec as (cvv text, holder text);"
      // A text column named like a composite one elsewhere.
      "create table tg_textlog (id int, card text); alter table tg_textlog owner to app;"
      "alter type tg_swaprec owner to app;"
      "create domain tg_copyrec_d as tg_copyrec;"
      "create domain tg_amount as numeric;"
      "create table wallet_copy (id int, card tg_copyrec, card2 tg_copyrec, note text, "
      "cards tg_copyrec[], amount tg_amount, dcards tg_copyrec_d[], swapped tg_swaprec);"
      "alter type tg_copyrec owner to app; alter domain tg_amount owner to app;"
      "alter domain tg_copyrec_d owner to app;"
      "alter table wallet_copy owner to app;"
      "insert into wallet_copy values (1, row('Ann', '123'), null, 'n', null, 10, "
      "array[row('Bo', '456')::tg_copyrec_d]);"
      // A foreign table: where its data is, card2 may be text. No server listens on port 1.
      "create server tg_nowhere foreign data wrapper postgres_fdw "
      "options (host '127.0.0.1', port '1');"
      "create foreign table tg_remote_wallet (id int, card tg_copyrec, card2 tg_copyrec) "
      "server tg_nowhere; grant all on tg_remote_wallet to app;"
      // Tables a write reaches foreign ones through: a partition, an inheritance child.
      "create table tg_parted_wallet (id int, card tg_copyrec, card2 tg_copyrec) "
      "partition by list (id);"
      "create table tg_parted_local partition of tg_parted_wallet for values in (2);"
      "create foreign table tg_parted_remote partition of tg_parted_wallet for values in (1) "
      "server tg_nowhere;"
      "create table tg_parent_wallet (id int, card tg_copyrec, card2 tg_copyrec);"
      "create foreign table tg_child_remote () inherits (tg_parent_wallet) server tg_nowhere;"
      "grant all on tg_parted_wallet, tg_parent_wallet to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      // The cvv field would be read back in clear from note.
      "update wallet_copy set note = card::text where id = 1;\n"
      "update wallet_copy set note = cards::text where id = 1;\n"
      "update wallet_copy set note = dcards::text where id = 1;\n"
      "update wallet_copy w set note = x.c::text from (select card as c from wallet_copy) x "
      "where w.id = 1;\n"
      "insert into wallet_copy (id, note) select id + 1, card::text from wallet_copy;\n"
      "prepare put(text) as update wallet_copy set note = $1 where id = 1;\n"
      "execute put((select card::text from wallet_copy where id = 1));\n"
      // Into a column of another composite type, whose fields are in another order; into a text
      // column named like a composite column of another table.
      "update wallet_copy set swapped = card::text::tg_swaprec where id = 1;\n"
      "insert into tg_textlog (id, card) select id, card from wallet_copy;\n"
      // Stored unchanged into a column of the same composite type, the fields keep their names
      // and are masked by them where it is read: allowed.
      "update wallet_copy set card2 = card where id = 1;\n"
      // Not into a foreign table.
      "update tg_remote_wallet set card2 = card where id = 1;\n"
      "update tg_parted_wallet set card2 = card where id = 1;\n"
      "update tg_parent_wallet set card2 = card where id = 1;\n"
      // Not any expression of it: a masked field may land in another one (card2's holder).
      "update wallet_copy set cards = array[card] where id = 1;\n"
      "update wallet_copy set card2 = row((card).cvv, 'x') where id = 1;\n"
      "update wallet_copy set card2 = row(card::text, 'x') where id = 1;\n"
      "update wallet_copy set card2.holder = card::text where id = 1;\n"
      "update wallet_copy w set card2 = x.card from (select id, regexp_replace(card::text, "
      "'^\\((.*),(.*)\\)$', '(\\2,\\1)') as card from wallet_copy) x where x.id = w.id;\n"
      // A domain over a scalar carries no fields, also after the session sent DDL (refused
      // here: a write grant).
      "update wallet_copy set amount = amount + 1 where id = 1;\n"
      "alter table wallet_copy add column extra int;\n"
      "update wallet_copy set amount = amount + 1 where id = 1;\n"
      "select note, card2, amount from wallet_copy;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 16);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column note"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column swapped"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column card,"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column card2"));
  CHECK(r.out == "PREPARE\nUPDATE 1\nUPDATE 1\nUPDATE 1\nn|(Ann,***)|12\n");
  CHECK(pg.sqlOrThrow("select count(*) from wallet_copy where note <> 'n' or id > 1 or "
                      "swapped is not null or card2 <> card or cards is not null",
                      kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_textlog", kPgAppDatabase) == "0\n");
}

// One of the database's own functions drops a field of a composite type and adds it again at
// the end: the same field count and types, so only the catalog read at login could tell, and it
// would name the fields by their old positions (cvv read as holder). Values of the type are
// masked whole from then on.
TEST_CASE("after a function changes a type, its values are masked whole") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tg_shift_t; drop type if exists tg_shift;"
      "create type tg_shift as (holder text, cvv text);"
      "create table tg_shift_t (id int, rec tg_shift);"
      "alter type tg_shift owner to app; alter table tg_shift_t owner to app;"
      "insert into tg_shift_t values (1, row('Ann', '321'));"
      "create or replace function tg_drop_holder() returns void language plpgsql as "
      "$$ begin alter type tg_shift drop attribute holder, add attribute holder text; end $$;"
      "alter function tg_drop_holder() owner to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select rec from tg_shift_t;\n"
      "select tg_drop_holder() is null;\n"
      "select rec from tg_shift_t;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, !ContainsSubstring("321"));
  CHECK(r.out == "(Ann,***)\nf\n******\n");  // (321,) masked whole
}
