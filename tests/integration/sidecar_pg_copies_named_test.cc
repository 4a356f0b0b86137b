// Writes through named statements, cursors and portals (masking.copies: refuse), through the
// real sidecar and a real PostgreSQL: a statement prepared, a cursor declared or a portal bound
// before the session may have changed its tables or types is judged again when it runs (also
// through EXECUTE or FETCH of another name); what EXECUTE passes as arguments, and what a VALUES
// row's `*` expands to, may land in any column (sidecar_pg_copies_test.cc: the other copies).
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// A table `table` (id int, note text) holding (1, 'n'), the session role's own, and two functions
// returning the first card's cvv: nc_code() and nc_imm(), mislabelled immutable (the planner
// runs it and folds what it returns into a plan).
void createNoteTable(PgServer& pg, const std::string& table, const std::string& more = "") {
  pg.sqlOrThrow("drop table if exists " + table + " cascade; create table " + table +
                    " (id int, note text); insert into " + table +
                    " values (1, 'n');"
                    "alter table " +
                    table +
                    " owner to app;"
                    "create or replace function nc_code() returns text language sql stable as "
                    "'select cvv from cards order by id limit 1';"
                    "create or replace function nc_imm() returns text language sql immutable as "
                    "'select cvv from cards order by id limit 1';" +
                    more,
                kPgAppDatabase);
}

}  // namespace

TEST_CASE("a call as o.f, and a cursor's calls, are judged with the tables they may change") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists ac_orders, ac_archive cascade;"
      "create table ac_orders (id int, note text); insert into ac_orders values (1, 'n');"
      "create table ac_archive (like ac_orders);"
      // Dynamic SQL that shadows ac_orders with a temporary table holding cvv where note was.
      "create or replace function ac_mk() returns int language plpgsql as $$ begin execute "
      "'create temp table if not exists ac_orders as select id, cvv as note from cards'; "
      "return 1; end $$;"
      "create or replace function ac_archive_orders() returns int language plpgsql as $$ begin "
      "insert into ac_archive select * from ac_orders; return 1; end $$;"
      // Called with attribute notation: no function call in the statement's text.
      "create or replace function ac_dynf(o ac_orders) returns int language plpgsql as $$ begin "
      "perform ac_mk(); insert into ac_archive select * from ac_orders; return 1; end $$;"
      "grant all on ac_orders, ac_archive to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select o.ac_dynf from ac_orders o;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  // A cursor declared before the tables may have changed runs its function's `*` at FETCH.
  r = sidecar.psql(
      "begin;\n"
      "declare c cursor for select ac_archive_orders();\n"
      "select ac_mk();\n"
      "fetch all c;\n"
      "rollback;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK_THAT(r.err, ContainsSubstring("cursor \"c\" stores a `*`"));
  CHECK(pg.sqlOrThrow("select count(*) from ac_archive", kPgAppDatabase) == "0\n");
  // So does a portal Bind made, fetched in the Query that may change the tables; one bound to
  // EXECUTE of a statement judged by them; and one bound to FETCH of that one. Committed, what
  // they stored would stay.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def fetch_after_change(binds):
    s.sendall(msg(b"Q", z("begin")))
    ready()
    for statement, portal, sql in binds:
        s.sendall(msg(b"P", z(statement) + z(sql) + struct.pack("!h", 0)) +
                  msg(b"B", z(portal) + z(statement) + struct.pack("!hhh", 0, 0, 0)))
    s.sendall(msg(b"S", b""))
    ready()
    s.sendall(msg(b"Q", z("select ac_mk(); fetch all from " + binds[-1][1])))
    ready()
    s.sendall(msg(b"Q", z("commit")))
    ready()
fetch_after_change([("s", "p", "select ac_archive_orders()")])
s.sendall(msg(b"Q", z("prepare q as insert into ac_archive select * from ac_orders returning note")))
ready()
fetch_after_change([("s2", "p2", "execute q")])
fetch_after_change([("s4", "p4", "execute q"), ("s5", "p5", "fetch all from p4")])
)PY");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK_THAT(r.out, ContainsSubstring("portal \"p\" stores a `*`"));
  CHECK_THAT(r.out, ContainsSubstring("portal \"p2\" stores a `*`"));
  CHECK_THAT(r.out, ContainsSubstring("portal \"p5\" stores a `*`"));
  CHECK(pg.sqlOrThrow("select count(*) from ac_archive", kPgAppDatabase) == "0\n");
}

// A prepared statement stores a composite value judged by the fields its type had; the session
// then adds a cvv field to the type. Run again, the statement would copy the cvv into note,
// read back in clear: it is refused, and the session stays usable.
TEST_CASE("a statement prepared before the session changed a type is judged again") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists plain_copy; drop type if exists tg_plainrec;"
      "create type tg_plainrec as (holder text, code text);"
      "create table plain_copy (id int, rec tg_plainrec, note text);"
      "alter type tg_plainrec owner to app; alter table plain_copy owner to app;"
      "insert into plain_copy values (1, row('Ann', 'c1'), 'n');",
      kPgAppDatabase);
  Sidecar sidecar(pg, adminGrant());  // its DDL runs
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "prepare put as update plain_copy set note = rec::text where id = 1;\n"
      "execute put;\n"
      "alter type tg_plainrec add attribute cvv text;\n"
      "update plain_copy set rec.cvv = '987' where id = 1;\n"
      "execute put;\n"
      "select note from plain_copy;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 1);
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"put\" stores a `*` or a composite"));
  CHECK(r.out == "PREPARE\nUPDATE 1\nALTER TYPE\nUPDATE 1\n(Ann,c1)\n");
  CHECK(pg.sqlOrThrow("select count(*) from plain_copy where note like '%987%'", kPgAppDatabase) ==
        "0\n");
}

TEST_CASE("EXECUTE's arguments, and the values a VALUES row's `*` expands to, may be any column") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists xa_log, xa_hist cascade;"
      "create table xa_log (id serial, note text);"
      "create table xa_hist (cvv text, note text, x text);"
      "create or replace function xa_code() returns text language sql stable as "
      "'select cvv from cards order by id limit 1';"
      "create or replace function xa_keep(m text) returns boolean language sql as "
      "$$ insert into xa_log (note) values (m); select true $$;"
      "create or replace function xa_row(i int) returns cards language sql stable as "
      "'select * from cards where id = i';"
      // column7 is cvv: the VALUES row's c.* moved it past the column list.
      "create or replace function xa_leak() returns text language sql stable as $$ select "
      "column7 from cards c, lateral (values (c.*)) v(a, b, c2, d, e, f) where c.id = 1 $$;"
      "grant all on xa_log, xa_hist to app; grant all on sequence xa_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      // A function the prepared statement calls stores what EXECUTE passes.
      "prepare k(text) as select xa_keep($1);\n"
      "execute k(xa_code());\n"
      "execute k('n');\n"
      // What EXECUTE passes may be in any column of its result.
      "prepare r(text) as select $1 as note;\n"
      "execute r(xa_code());\n"
      "execute r('plain');\n"
      // A `*` in a VALUES row of several, of MERGE's INSERT, or in ROW(...), moves the items
      // after it: holder, cvv (, id) land in cvv, note (, x).
      "insert into xa_hist (cvv, note, x) values "
      "((select c from (select holder, cvv, id from cards) c where id = 1).*), "
      "((select c from (select holder, cvv, id from cards) c where id = 2).*);\n"
      "merge into xa_hist h using (select holder, cvv, id from cards) c on false "
      "when not matched then insert (cvv, note, x) values (c.*);\n"
      "update xa_hist h set (cvv, note, x) = row(c.*, 'a') from (select holder, cvv from cards) "
      "c;\n"
      "select g from cards c, lateral (values (c.*, 'x'), (c.*, 'y')) v(a, b, c2, d, e, f, g) "
      "where c.id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 4);
  const std::string cvv = sampleCards()[0].cvv;
  CHECK_THAT(r.out, !ContainsSubstring(cvv));
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 7);  // the VALUES' two rows
  CHECK(lines[0] == "PREPARE");
  CHECK(lines[1] == "t");
  CHECK(lines[2] == "PREPARE");
  CHECK(lines[3].find_first_not_of('*') == std::string::npos);  // masked whole
  CHECK(lines[4] == "plain");
  CHECK(lines[5].find_first_not_of('*') == std::string::npos);
  CHECK(lines[6].find_first_not_of('*') == std::string::npos);
  CHECK(pg.sqlOrThrow("select count(*) from xa_log where note <> 'n'", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from xa_hist", kPgAppDatabase) == "0\n");
  // Masked whole too: a plan showing the value an argument's function returned, an argument of
  // a composite type with a masked field, a function returning what a VALUES row's `*` moved.
  for (const char* sql : {"prepare e(text) as select $1 as note;\n"
                          "explain (verbose, costs off) execute e(xa_code());\n",
                          "prepare w(text) as select $1 as note;\nexecute w(xa_row(1)::text);\n",
                          "select 'x';\nselect xa_leak();\n"}) {
    r = sidecar.psql(sql);
    INFO(sql << "stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.err == "");
    const std::vector<std::string> out = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
    REQUIRE(out.size() >= 2);
    for (size_t i = 1; i < out.size(); ++i)
      CHECK(out[i].find_first_not_of("* ") == std::string::npos);
  }
}

// EXPLAIN ANALYZE EXECUTE p(...) runs p as EXECUTE p(...) does; a plain EXPLAIN EXECUTE p shows
// the values the planner folded in from p's immutable functions.
TEST_CASE("EXPLAIN EXECUTE is judged with the statement it runs or plans") {
  auto& pg = sharedPg();
  createNoteTable(pg, "ex_log",
                  "drop table if exists ex_src; create table ex_src (id int);"
                  "insert into ex_src values (1); alter table ex_src owner to app;"
                  "create or replace function ex_hide() returns int language plpgsql as $$ "
                  "begin execute 'prepare hidden as select nc_imm() as x'; return 1; end $$;");
  Sidecar sidecar(pg, adminGrant());  // EXPLAIN ANALYZE EXECUTE, and DDL, need it
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "prepare put(text) as update ex_log set note = $1 where id = 1;\n"
      "explain (analyze, costs off, timing off, summary off) execute put(nc_code());\n"
      "prepare cp as insert into ex_log select * from ex_src;\n"
      "alter table ex_src add column cvv text;\n"
      "update ex_src s set cvv = c.cvv from cards c where c.id = s.id;\n"
      "explain (analyze, costs off, timing off, summary off) execute cp;\n"
      "prepare v as select nc_imm() as x;\n"
      "explain (verbose, costs off) execute v;\n"
      "select count(*) from ex_log;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 2);
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"cp\" stores a `*`"));
  const std::string cvv = sampleCards()[0].cvv;
  CHECK_THAT(r.out, !ContainsSubstring(cvv));
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() >= 7);
  CHECK(lines[0] == "PREPARE");
  CHECK(lines[1] == "PREPARE");
  CHECK(lines[2] == "ALTER TABLE");
  CHECK(lines[3] == "UPDATE 1");
  CHECK(lines[4] == "PREPARE");
  for (size_t i = 5; i + 1 < lines.size(); ++i) {
    CHECK(lines[i].find_first_not_of("* ") == std::string::npos);  // the plan, masked whole
  }
  CHECK(lines.back() == "1");
  CHECK(pg.sqlOrThrow("select count(*) from ex_log where note <> 'n'", kPgAppDatabase) == "0\n");
  // Prepared where the sidecar could not see: its plan may show anything.
  r = sidecar.psql("select 1 from ex_hide();\nexplain (verbose, costs off) execute hidden;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.err == "");
  REQUIRE(r.out.rfind("1\n", 0) == 0);
  CHECK(r.out.find_first_not_of("* \n", 2) == std::string::npos);
  // Through CREATE TABLE AS (nothing is created without ANALYZE); an error of the statement
  // EXPLAIN ANALYZE runs is withheld as EXECUTE's would be.
  r = sidecar.psql(
      "prepare v2 as select nc_imm() as x;\n"
      "explain (verbose, costs off) create table ex_t as execute v2;\n"
      "prepare q as select (cvv || 'x')::int from cards;\n"
      "explain (analyze, costs off) execute q;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK_THAT(r.out + r.err, !ContainsSubstring(cvv));
  CHECK_THAT(r.err, ContainsSubstring("invalid input syntax for type integer: \"***\""));
  const std::vector<std::string> plan = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(plan.size() >= 4);
  for (size_t i = 1; i + 1 < plan.size(); ++i) {
    CHECK(plan[i].find_first_not_of("* ") == std::string::npos);
  }
  CHECK(plan.back() == "PREPARE");
}

// A Parse of EXECUTE p or EXPLAIN EXECUTE p was judged with p as it stood: once p is prepared
// again, executing it is refused until it is parsed again.
TEST_CASE("a protocol-prepared EXECUTE p is refused once p is prepared again") {
  auto& pg = sharedPg();
  createNoteTable(pg, "rp_log");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def answer():
    out = []
    while True:
        t, body = read_message()
        if t in (b"E", b"D"): out.append(t.decode() + ":" + body.decode(errors="replace"))
        if t == b"Z": return out
def query(sql):
    s.sendall(msg(b"Q", z(sql)))
    return answer()
def parse(name, sql):
    s.sendall(msg(b"P", z(name) + z(sql) + struct.pack("!h", 0)) + msg(b"S", b""))
    return answer()
def run(name):
    s.sendall(msg(b"B", z("") + z(name) + struct.pack("!hhh", 0, 0, 0)) +
              msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
    return answer()
print(json.dumps(query("prepare v as select 1 as x; prepare put(text) as select $1 is null")))
print(json.dumps(parse("s1", "explain (verbose, costs off) execute v")))
print(json.dumps(parse("s2", "execute put(nc_code())")))
print(json.dumps(run("s1")))
print(json.dumps(run("s2")))
print(json.dumps(query("deallocate v; prepare v as select nc_imm() as x; deallocate put;"
                       "prepare put(text) as update rp_log set note = $1 where id = 1")))
print(json.dumps(run("s1")))
print(json.dumps(run("s2")))
s.sendall(msg(b"C", b"S" + z("s1")))
print(json.dumps(parse("s1", "explain (verbose, costs off) execute v")))
print(json.dumps(run("s1")))
)PY");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 10);
  const std::string cvv = sampleCards()[0].cvv;
  CHECK_THAT(r.out, !ContainsSubstring(cvv));
  CHECK_THAT(lines[3], ContainsSubstring("Output: 1"));  // judged with v as it was
  CHECK_THAT(lines[6], ContainsSubstring("runs prepared statement \\\"v\\\""));
  CHECK_THAT(lines[7], ContainsSubstring("runs prepared statement \\\"put\\\""));
  CHECK_THAT(lines[9], !ContainsSubstring("E:"));  // parsed again: judged with the new v
  CHECK_THAT(lines[9], ContainsSubstring("D:"));
  CHECK(pg.sqlOrThrow("select count(*) from rp_log where note <> 'n'", kPgAppDatabase) == "0\n");
}

// Statements pipelined behind one that redefines a name are judged with the new definition; if
// that one fails, the server runs the old one. Until it is answered, what runs such a name is
// refused: SQL EXECUTE, a Parse of it, and a Bind of the statement itself.
TEST_CASE("what runs a name an unanswered statement redefined is refused") {
  auto& pg = sharedPg();
  createNoteTable(pg, "pr_log");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def q(sql): return msg(b"Q", z(sql))
def parse(name, sql): return msg(b"P", z(name) + z(sql) + struct.pack("!h", 0))
def bind_execute(name):
    return (msg(b"B", z("") + z(name) + struct.pack("!hhh", 0, 0, 0)) +
            msg(b"E", z("") + struct.pack("!i", 0)))
def answer():  # errors and rows, up to ReadyForQuery
    while True:
        t, body = read_message()
        if t == b"E": print("E", body.decode(errors="replace"))
        if t == b"D": print("D", body[6:6 + struct.unpack("!i", body[2:6])[0]].decode())
        if t == b"Z": return
s.sendall(q("prepare put(text) as update pr_log set note = $1 where id = 1; "
            "prepare show as select cvv as note from cards order by id limit 1"))
ready()
fail = ("select 1/0; deallocate put; prepare put(text) as select $1 is null; deallocate show; "
        "prepare show as select 'plain' as note")
for tail in [q("execute put(nc_code())"),
             parse("s", "execute put(nc_code())") + bind_execute("s") + msg(b"S", b""),
             bind_execute("show") + msg(b"S", b"")]:
    print("--")
    s.sendall(q(fail) + tail)
    answer()
    answer()
# The unnamed statement, when the Parse that replaced it was skipped.
s.sendall(parse("", "select cvv as note from cards order by id limit 1") + bind_execute("") +
          msg(b"S", b""))
answer()
s.sendall(parse("f", "select 1/0") + msg(b"B", z("") + z("f") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) +
          parse("", "select 'plain'::text as note") + msg(b"S", b"") +
          bind_execute("") + msg(b"S", b""))
answer()
answer()
# A cursor read by a protocol Execute.
s.sendall(q("declare c cursor with hold for select cvv as note from cards order by id limit 1"))
answer()
s.sendall(q("select 1/0; close c; declare c cursor with hold for select 'plain'::text as note") +
          msg(b"E", z("c") + struct.pack("!i", 0)) + msg(b"S", b""))
answer()
answer()
# Not refused: a Close first in its batch always happens; a batch that parses the name itself.
s.sendall(parse("r1", "select 1 as x") + msg(b"S", b""))
answer()
s.sendall(msg(b"C", b"S" + z("r1")) + parse("r1", "select 2 as x") + msg(b"S", b"") +
          bind_execute("r1") + msg(b"S", b""))
answer()
answer()
s.sendall(msg(b"C", b"S" + z("r1")) + msg(b"S", b"") +
          parse("r1", "select 3 as x") + bind_execute("r1") + msg(b"S", b""))
answer()
answer()
s.sendall(parse("", "select 4 as x") + msg(b"S", b"") + bind_execute("") + msg(b"S", b""))
answer()
answer()
# A Query inside an unsynced batch is discarded with it after an error: the Close after it is
# not first in a batch.
s.sendall(parse("r2", "select cvv as note from cards order by id limit 1") + msg(b"S", b""))
answer()
s.sendall(parse("f2", "select 1/0") + msg(b"B", z("") + z("f2") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + q("select 1") +
          msg(b"C", b"S" + z("r2")) + parse("r2", "select 'plain'::text as note") +
          msg(b"S", b"") + bind_execute("r2") + msg(b"S", b""))
answer()
answer()
# The unnamed portal, when a Bind failed before replacing it and a savepoint brings the
# transaction back: the server's portal is the cvv one.
def bind(portal, name, params=b""):
    return msg(b"B", z(portal) + z(name) + struct.pack("!hh", 0, len(params) and 1) + params +
               struct.pack("!h", 0))
def execute(portal, rows): return msg(b"E", z(portal) + struct.pack("!i", rows))
s.sendall(q("begin"))
answer()
s.sendall(parse("c", "select cvv as note from cards order by id") + bind("", "c") +
          execute("", 1) + msg(b"S", b""))
answer()
s.sendall(parse("sp", "savepoint s") + bind("x", "sp") + execute("x", 0) + msg(b"S", b""))
answer()
s.sendall(parse("h", "select 'x'::text as note") + msg(b"S", b""))
answer()
s.sendall(bind("", "h", struct.pack("!i", 1) + b"1") + msg(b"S", b""))  # 1 parameter: refused
answer()
s.sendall(parse("rb", "rollback to savepoint s") + bind("y", "rb") + execute("y", 0) +
          execute("", 1) + msg(b"S", b""))
answer()
s.sendall(q("rollback"))
answer()
print("--")
s.sendall(q("execute show"))
answer()
)PY");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  for (const auto& card : sampleCards()) CHECK_THAT(r.out, !ContainsSubstring("D " + card.cvv));
  CHECK(countOf(r.out, "redefined by a statement the server has not answered yet") == 6);
  CHECK(countOf(r.out, "division by zero") == 6);
  CHECK_THAT(r.out, ContainsSubstring("\nD 2\n"));
  CHECK_THAT(r.out, ContainsSubstring("\nD 3\n"));
  CHECK_THAT(r.out, ContainsSubstring("\nD 4\n"));
  // The unnamed statement, the unnamed portal's two rows, the last EXECUTE show.
  CHECK(countOf(r.out, "\nD ***\n") == 4);
  CHECK(pg.sqlOrThrow("select note from pr_log", kPgAppDatabase) == "n\n");
}
