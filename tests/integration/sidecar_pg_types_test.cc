// The database's own types through the real sidecar and a real PostgreSQL: domains over bigint
// inside binary arrays and records, and column rules on the fields of composite types, in text
// (psql) and binary (raw protocol) result formats. Views and functions: sidecar_pg_lineage_test.cc.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

constexpr char kPan[] = "4111111111111111";
constexpr char kPan2[] = "5555555555554444";

// Types and a table holding card data through them, owned by the job's role.
void createTypedTable(PgServer& pg) {
  pg.sqlOrThrow(
      "drop table if exists tg_dcards; drop domain if exists tg_card_d;"
      "drop function if exists tg_getcard(); drop table if exists tg_typed; "
      "drop table if exists tg_wallet2; drop table if exists tg_cards_t; "
      "drop type if exists tg_wallet; "
      "drop type if exists tg_cardrec; drop domain if exists tg_pan_num2; "
      "drop domain if exists tg_pan_num; drop type if exists tg_r8;"
      "create type tg_r8 as range (subtype = int8);"
      "create domain tg_pan_num as bigint;"
      "create domain tg_pan_num2 as tg_pan_num;"  // a domain over a domain
      "create type tg_cardrec as (holder text, pan text, cvv text, cvc_code int, "
      "nums tg_pan_num[]);"
      "create type tg_wallet as (label text, card tg_cardrec);"
      "create table tg_typed (id int, nums tg_pan_num2[], card tg_cardrec, wallet tg_wallet, "
      "cards tg_cardrec[]);"
      "insert into tg_typed values (1, array[4111111111111111, 42]::tg_pan_num2[], "
      "row('ann, jr', '5555555555554444', '123', 456, array[4111111111111111]), "
      "row('main', row('bob', '4111111111111111', '789', 321, null)), "
      "array[row('cat', '4111111111111111', '999', 111, null)::tg_cardrec]);"
      "alter table tg_typed owner to app;"
      // A table's row type used as a column type (code review).
      "create table tg_cards_t (pan text, cvv text);"
      "create table tg_wallet2 (id int, card tg_cards_t);"
      "insert into tg_wallet2 values (1, row('4111111111111111', '123'));"
      "alter table tg_cards_t owner to app; alter table tg_wallet2 owner to app;"
      "create or replace function tg_getcard() returns tg_cardrec language sql as "
      "$$ select card from tg_typed where id = 1 $$;",
      "payments");
}

// Raw protocol: runs argv[2] with binary results and prints, per column of the first row, the
// decoded value as JSON: int8 arrays as lists of numbers, records as lists of fields (text
// fields as strings, int4 as numbers, arrays of int8 as lists, NULL as null).
constexpr char kBinaryRow[] = R"PY(
startup("job", "payments")
s.sendall(msg(b"P", z("") + z(sys.argv[2]) + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhhh", 0, 0, 1, 1)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
row = None
while True:
    t, body = read_message()
    if t == b"E": raise SystemExit(body)
    if t == b"Z": break
    if t != b"D" or row is not None: continue
    n, pos, row = struct.unpack("!h", body[:2])[0], 2, []
    for _ in range(n):
        l = struct.unpack("!i", body[pos:pos + 4])[0]; pos += 4
        row.append(None if l < 0 else body[pos:pos + l]); pos += max(l, 0)
def array(b):
    ndim, _, _ = struct.unpack("!iiI", b[:12])
    count, pos = 1, 12
    for _ in range(ndim):
        count *= struct.unpack("!i", b[pos:pos + 4])[0]; pos += 8
    out = []
    for _ in range(count if ndim else 0):
        l = struct.unpack("!i", b[pos:pos + 4])[0]; pos += 4
        out.append(None if l < 0 else b[pos:pos + l]); pos += max(l, 0)
    return out
def int8s(b): return [None if e is None else struct.unpack("!q", e)[0] for e in array(b)]
def record(b):
    n, pos, out = struct.unpack("!i", b[:4])[0], 4, []
    for _ in range(n):
        oid, l = struct.unpack("!Ii", b[pos:pos + 8]); pos += 8
        v = None if l < 0 else b[pos:pos + l]; pos += max(l, 0)
        if v is None: out.append(None)
        elif oid == 25: out.append(v.decode())
        elif oid == 23: out.append(struct.unpack("!i", v)[0])
        elif l >= 12 and struct.unpack("!i", v[:4])[0] in (0, 1) and len(v) > 12: out.append(int8s(v))
        else: out.append(record(v))
    return out
print(json.dumps([int8s(row[0]), record(row[1]), record(row[2])]))
)PY";

}  // namespace

// Regression: a domain over bigint inside a binary array or record was not decoded (its OID is
// the database's own), so a card number stored through it reached the client in the clear. The
// session now reads the database's domains once logged in.
TEST_CASE("binary arrays and records of a domain over bigint are masked") {
  auto& pg = sharedPg();
  createTypedTable(pg);
  SidecarOptions o;
  o.policy.column_rules = false;  // the detector alone must find them
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + kBinaryRow,
                          {"select nums, card, wallet from tg_typed where id = 1"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  auto got = nlohmann::json::parse(r.out);
  // An int8 element keeps its type: hidden digits are zeros.
  CHECK(got[0] == nlohmann::json::parse("[4111110000001111, 42]"));
  CHECK(got[1] == nlohmann::json::parse(
                      R"(["ann, jr", "555555******4444", "123", 456, [4111110000001111]])"));
  CHECK(got[2] ==
        nlohmann::json::parse(R"(["main", ["bob", "411111******1111", "789", 321, null]])"));
  // A user-defined range type over int8 (red-team round 8), and its multirange: the lower bound.
  constexpr char kRangeBound[] = R"PY(
startup("job", "payments")
s.sendall(msg(b"P", z("") + z(sys.argv[2]) + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhhh", 0, 0, 1, 1)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
while True:
    t, body = read_message()
    if t == b"E": raise SystemExit(body)
    if t == b"Z": break
    if t == b"D":
        v = body[6:6 + struct.unpack("!i", body[2:6])[0]]
        if sys.argv[3] == "multi": v = v[8:]  # count, length, then the one range
        print(struct.unpack("!q", v[5:13])[0])  # flags byte, bound length, bound
)PY";
  r = sidecar.python(std::string(kPyRawWire) + kRangeBound,
                     {"select tg_r8(4111111111111111, null)", "range"});
  INFO("stderr: " << r.err);
  CHECK(r.out == "4111110000001111\n");
  r = sidecar.python(
      std::string(kPyRawWire) + kRangeBound,
      {"select tg_r8_multirange(tg_r8(4111111111111111, 4111111111111112))", "multi"});
  INFO("stderr: " << r.err);
  CHECK(r.out == "4111110000001111\n");
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// Regression: column rules matched result column names only, so the cvv field of a composite
// column (tg_cardrec(holder, pan, cvv, ...)) reached the client.
TEST_CASE("column rules mask the fields of composite types by name") {
  auto& pg = sharedPg();
  createTypedTable(pg);
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // Text format: the fields inside the record text, nested records too; an array of records is
  // masked whole.
  auto r = sidecar.psql("select card, wallet, cards from tg_typed where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  const std::string kText =
      "(\"ann, jr\",555555******4444,***,***,{411111******1111})|"
      "(main,\"(bob,411111******1111,***,***,)\")|";
  REQUIRE(r.out.rfind(kText, 0) == 0);
  const std::string whole = r.out.substr(kText.size());
  CHECK(whole.size() > 2);
  CHECK(whole.find_first_not_of('*') == whole.size() - 1);  // then the newline
  // A table's row type as a column type; a field in functional notation.
  r = sidecar.psql(
      "select card, cvv(card) as x from tg_wallet2;\n"
      "select cvv(tg_getcard()) as y;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "(411111******1111,***)|***\n***\n");
  // Computed from such a column (a cast, a field, JSON of it): its fields cannot be told apart
  // any more, so the value is masked whole.
  r = sidecar.psql(
      "select card::text, (card).holder, to_jsonb(card)->'cvv', (card).cvv, "
      "(select c from tg_typed t2, lateral (select t2.card) s(c) limit 1)::text, "
      "(tg_getcard()).cvv as q, ((wallet).card).cvv as y "
      "from tg_typed where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  for (char ch : r.out) {
    CHECK_FALSE(std::isalnum(static_cast<unsigned char>(ch)));
  }
  CHECK(std::count(r.out.begin(), r.out.end(), '|') == 6);
  // The same through a function whose definition returns such a column (the sidecar reads it):
  // the result no longer has the type's shape, so it is masked whole.
  r = sidecar.psql(
      "select tg_getcard()::text, to_jsonb(tg_getcard())->>'cvv';\n"
      "copy (select tg_getcard()) to stdout;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  for (char ch : r.out) CHECK_FALSE(std::isalnum(static_cast<unsigned char>(ch)));
  // COPY carries no types: a field read from such a column is masked whole.
  r = sidecar.psql("copy (select id, card from tg_typed) to stdout;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.rfind("1\t", 0) == 0);
  for (char ch : r.out.substr(2)) CHECK_FALSE(std::isalnum(static_cast<unsigned char>(ch)));
  // Binary format: a text field gets the rule's mask, an int4 field under a rule is NULL.
  r = sidecar.python(std::string(kPyRawWire) + kBinaryRow,
                     {"select nums, card, wallet from tg_typed where id = 1"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  auto got = nlohmann::json::parse(r.out);
  CHECK(got[1] == nlohmann::json::parse(
                      R"(["ann, jr", "555555******4444", "***", null, [4111110000001111]])"));
  CHECK(got[2] ==
        nlohmann::json::parse(R"(["main", ["bob", "411111******1111", "***", null, null]])"));
  for (const char* secret : {"123", "456", "789", "321", "999", kPan, kPan2}) {
    CHECK_THAT(r.out, !ContainsSubstring(secret));
  }
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("an array of a domain over a composite type has its fields masked") {
  auto& pg = sharedPg();
  createTypedTable(pg);
  pg.sqlOrThrow(
      "create domain tg_card_d as tg_cardrec;"
      "create table tg_dcards (id int, cards tg_card_d[], one tg_card_d);"
      "insert into tg_dcards values (1, array[row('cat', '4111111111111111', '999', 111, "
      "null)::tg_card_d], row('dog', '5555555555554444', '888', 222, null)::tg_card_d);"
      "alter domain tg_card_d owner to app; alter table tg_dcards owner to app;",
      "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select cards, one from tg_dcards;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  for (const char* secret : {"999", "888", kPan, kPan2}) {
    CHECK_THAT(r.out, !ContainsSubstring(secret));
  }
  // Binary format: the row's bytes as they came (text fields inside are plain bytes).
  std::string raw_row = kBinaryRow;
  raw_row.replace(raw_row.rfind("print("), std::string::npos,
                  "print(json.dumps([None if v is None else v.decode('latin-1') for v in row]))\n");
  r = sidecar.python(std::string(kPyRawWire) + raw_row, {"select cards, one from tg_dcards"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* secret : {"999", "888", kPan, kPan2}) {
    CHECK_THAT(r.out, !ContainsSubstring(secret));
  }
}

// A function returning a table's row type (`RETURNS t`, `SETOF t`, `t[]`) whose row type no
// column uses: the result's type names the table, whose columns the rules name.
TEST_CASE("rows returned by functions as a table's row type have their fields masked") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop function if exists tg_one_card(); drop function if exists tg_all_cards(); "
      "drop function if exists tg_card_list(); drop table if exists tg_fn_cards; "
      "create table tg_fn_cards (holder text, pan text, cvv text);"
      "insert into tg_fn_cards values ('ann', '4111111111111111', '123'), "
      "('bob', '5555555555554444', '456');"
      "create function tg_one_card() returns tg_fn_cards language sql as "
      "$$ select * from tg_fn_cards order by holder limit 1 $$;"
      "create function tg_all_cards() returns setof tg_fn_cards language sql as "
      "$$ select * from tg_fn_cards order by holder $$;"
      "create function tg_card_list() returns tg_fn_cards[] language sql as "
      "$$ select array_agg(c order by holder) from tg_fn_cards c $$;"
      "alter table tg_fn_cards owner to app; alter function tg_one_card() owner to app; "
      "alter function tg_all_cards() owner to app; alter function tg_card_list() owner to app",
      "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select tg_one_card();\n"
      "select tg_all_cards();\n"
      "select tg_card_list();\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  const std::string kRows =
      "(ann,411111******1111,***)\n"
      "(ann,411111******1111,***)\n(bob,555555******4444,***)\n";
  REQUIRE(r.out.rfind(kRows, 0) == 0);
  // An array of such records in text format is masked whole.
  const std::string whole = r.out.substr(kRows.size());
  CHECK(whole.size() > 2);
  CHECK(whole.find_first_not_of('*') == whole.size() - 1);
  // Binary format: the record's text fields get the rules' masks.
  r = sidecar.python(std::string(kPyRawWire) + kBinaryRow,
                     {"select '{}'::int8[], tg_one_card(), (select c from tg_all_cards() c "
                      "where holder = 'bob')"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out) ==
        nlohmann::json::parse(R"([[], ["ann", "411111******1111", "***"],
                                  ["bob", "555555******4444", "***"]])"));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// A view that renames a masked column (`cvv AS code`): the session reads the views'
// definitions with the database's types and follows their columns to what they are made of,
// through views of views and materialized views, as values and inside errors.
TEST_CASE("a locked table does not hold the login up; its views are masked whole") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop view if exists tg_v_lock; drop view if exists tg_v_plain; "
      "drop table if exists tg_lockme; "
      "create table tg_lockme (id int, note text); insert into tg_lockme values (1, 'n');"
      "create view tg_v_lock as select id, note from tg_lockme;"
      "create view tg_v_plain as select id, holder from cards;"
      "alter table tg_lockme owner to app; alter view tg_v_lock owner to app; "
      "alter view tg_v_plain owner to app",
      "payments");
  auto locker = std::async(std::launch::async, [&] {
    return pg.sql(
        // Held until the job's query has run (ended below), however slow the login is.
        "set application_name = 'tg_locker'; begin; "
        "lock table tg_lockme in access exclusive mode; select pg_sleep(60); commit;",
        "payments");
  });
  // The login starts once the lock is held.
  REQUIRE(eventually([&] {
    return pg.sql(
                 "select count(*) from pg_locks where relation = 'tg_lockme'::regclass "
                 "and mode = 'AccessExclusiveLock' and granted",
                 "payments")
               .out == "1\n";
  }));
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select id, holder from tg_v_plain where id = 1;\n");
  pg.sqlOrThrow(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = "
      "'tg_locker'",
      "payments");
  locker.get();
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("Alice") == std::string::npos);  // masked whole: not followed
  CHECK_THAT(sidecar.log(), ContainsSubstring("a lock held up reading view definitions"));
  pg.sqlOrThrow("drop view tg_v_lock; drop view tg_v_plain; drop table tg_lockme", "payments");
}

// The catalog is read once per session: a composite type altered after that no longer matches
// it. In binary format the sidecar sees the mismatch (field count or types) and masks every
// field with the policy's first column rule, since any of them may be the cvv now.
TEST_CASE("a composite type altered after login has all its binary fields masked") {
  auto& pg = sharedPg();
  createTypedTable(pg);
  pg.sqlOrThrow("alter type tg_cardrec owner to app; alter type tg_wallet owner to app",
                "payments");
  SidecarOptions o;
  o.subject = "system:serviceaccount:payments-dba:admin";
  o.policy.guardrails = false;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
def run(sql):
    s.sendall(msg(b"Q", z(sql)))
    while True:
        t, body = read_message()
        if t == b"E": raise SystemExit(body)
        if t == b"Z": return
__startup = startup
def startup(user, database):
    __startup(user, database)
    run("alter type tg_cardrec add attribute note text")
    # Same field count and types afterwards: only the DDL itself tells the sidecar.
    run("alter type tg_wallet drop attribute label, add attribute label text")
)PY" + std::string(kBinaryRow),
                          {"select nums, card, wallet from tg_typed where id = 1"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  auto got = nlohmann::json::parse(r.out);
  CHECK(got[1] ==
        nlohmann::json::parse(R"(["**** **", "****************", "***", null, null, null])"));
  CHECK(got[2] == nlohmann::json::parse("[null, null]"));  // (card, label) now: both unknown
  for (const char* secret : {"123", "456", "789", "321", kPan, kPan2}) {
    CHECK_THAT(r.out, !ContainsSubstring(secret));
  }
  // A session that starts after the DDL reads the catalog again (the sidecar's shared copy of
  // it was dropped): fields are masked one by one, by their new names.
  r = sidecar.python(std::string(kPyRawWire) + kBinaryRow,
                     {"select nums, card, wallet from tg_typed where id = 1"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  got = nlohmann::json::parse(r.out);
  CHECK(got[1] == nlohmann::json::parse(
                      R"(["ann, jr", "555555******4444", "***", null, [4111110000001111], null])"));
}

// Red-team round 8: the job's startup settings (statement_timeout=1) cancelled the catalog
// query, and the job's CancelRequest (its key arrived before the query ran) could too; the
// session then went on without the catalog, so a composite's cvv came back in clear. The query
// now runs in a transaction of its own with no timeout, the key comes with ReadyForQuery, and
// a catalog that cannot be read ends the session.
TEST_CASE("the job cannot keep the sidecar from reading the database's types") {
  auto& pg = sharedPg();
  createTypedTable(pg);
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // The catalog is read under the job's startup options. The job's own query would run under
  // its 1 ms timeout too, which on a loaded machine the server may cut (57014): the job lifts
  // it first. Even the SET may be cut: try again, and never see the card in clear.
  RunResult r;
  for (int attempt = 0; attempt < 10; ++attempt) {
    r = sidecar.psql("set statement_timeout = 0;\nselect card from tg_typed where id = 1;\n", {},
                     "sslmode=disable options='-c statement_timeout=1 -c lock_timeout=1 "
                     "-c search_path=public,pg_catalog'");
    for (const char* secret : {kPan, kPan2}) CHECK_THAT(r.out + r.err, !ContainsSubstring(secret));
    // psql exits 0 after a failed statement too: the cancel shows only in its stderr.
    if (r.err.find("57014") == std::string::npos) break;
  }
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "SET\n(\"ann, jr\",555555******4444,***,***,{411111******1111})\n");
  // The cancel key is the last thing before the first ReadyForQuery.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
params = z("user") + z("job") + z("database") + z("payments") + b"\0"
s.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
types = []
while not types or types[-1] != "Z":
    types.append(read_message()[0].decode())
print("".join(t for t in types if t != "S"))
)PY");
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "RKZ\n");
}

// Red-team round 10: the sidecar's shared copy of the catalog was dropped when DDL ran, not
// when its transaction committed, so a session that logged in meanwhile (reading the catalog
// without the change) put the old copy back for the next 30 s.
TEST_CASE("DDL in a transaction drops the shared catalog again when it commits") {
  auto& pg = sharedPg();
  createTypedTable(pg);
  pg.sqlOrThrow("alter type tg_cardrec owner to app", "payments");
  SidecarOptions o;
  o.subject = "system:serviceaccount:payments-dba:admin";
  o.policy.guardrails = false;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  // The migration renames holder to cvc_holder (a cvc* rule then names it) and holds its
  // transaction open while another session logs in.
  auto migration = std::async(std::launch::async, [&sidecar] {
    return sidecar.psql(
        "begin;\nalter type tg_cardrec rename attribute holder to cvc_holder;\n"
        "select pg_sleep(2);\ncommit;\n");
  });
  usleep(700000);
  auto r = sidecar.psql("select 1;\n");  // logs in (reads the catalog) during the migration
  REQUIRE(r.exit_code == 0);
  REQUIRE(migration.get().exit_code == 0);
  r = sidecar.psql("select card from tg_typed where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "(\"**** **\",555555******4444,***,***,{411111******1111})\n");
}
