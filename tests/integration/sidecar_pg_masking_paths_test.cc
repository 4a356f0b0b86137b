// Masked data in other forms and along other paths, through the real sidecar and a real
// PostgreSQL: renamed, computed and whole-row columns, casts to float8, money, bytea and JSON,
// binary ranges, points and xid8, planner statistics, errors that quote data, bytea text
// forms, RAISE fields, reported settings and quoted names.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

TEST_CASE("a masked column renamed, computed, or read through a row is still masked") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // Each statement returns one value made from card 1's cvv: it must come back redacted whole
  // (the redact action keeps only spaces).
  const char* kEvasions[] = {
      "select cvv as c from cards where id = 1",
      "select 'x' || cvv from cards where id = 1",
      "select upper(cvv) as u from cards where id = 1",
      "with q as (select cvv as z from cards where id = 1) select z from q",
      "with q(a) as (select cvv from cards where id = 1) select a from q",
      "select k from (select cvv from cards where id = 1) s(k)",
      "select * from (select cvv as k from cards where id = 1) s",
      "select (select cvv from cards where id = 1) as k",
      "select k from cards c(i, h, p, pv, pn, pd, k) where i = 1",
      "select c from cards c where id = 1",
      "select row(c.*) from cards c where id = 1",
      "select u from cards, unnest(array[cvv]) u where id = 1",
      "select holder from cards where false union all select cvv from cards where id = 1",
      // A value taken out of a row's JSON, and the columns of functions in FROM.
      "select to_jsonb(c)->'cvv' from cards c where id = 1",
      "select jsonb_path_query_array(to_jsonb(c), '$.cvv') from cards c where id = 1",
      "select j from cards c, jsonb_path_query(to_jsonb(c), '$.cvv') j where id = 1",
      "select value from cards c, jsonb_each_text(to_jsonb(c)) where id = 1 and key = 'cvv'",
      "select e.value from cards c, jsonb_each_text(to_jsonb(c)) e where id = 1 and key = 'cvv'",
      "select value from cards c, jsonb_each_text(to_jsonb(c)) e(k) where id = 1 and k = 'cvv'",
      "select unnest from cards, unnest(array[cvv]) where id = 1",
      "select x from cards, xmltable('/r' passing xmlelement(name r, cvv) columns x text path '.')"
      " where id = 1",
      // Columns named by the server: VALUES items, unaliased expressions, (expr).*.
      "select column1 from cards, lateral (values (cvv)) v where id = 1",
      "select f1 from (select (row(cvv)).* from cards where id = 1) s",
      "with q as (select upper(cvv) from cards where id = 1) select upper from q",
      "select (r).* from (select row(cvv) r from cards where id = 1) s",
      "select a.*, lower(cvv), a.* from (select) a, cards where id = 1",
      "select j.f from (cards join (select 1 as z) z on true) as j(a, b, c, d, e, f, g, h, i, k)"
      " where j.a = 1",
      "with recursive w(x) as (select cvv from cards where id = 1 union all select x from w"
      " where false) search depth first by x set o select o from w",
  };
  for (const char* sql : kEvasions) {
    INFO(sql);
    auto r = sidecar.psql(std::string(sql) + ";\n");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::string value = r.out.substr(0, r.out.find('\n'));
    CHECK(!value.empty());
    CHECK(value.find_first_not_of("* ") == std::string::npos);
  }
  // A cursor and a prepared statement return what they were declared with.
  auto r = sidecar.psql(
      "begin;\n"
      "declare cur cursor for select cvv as q, id from cards where id = 1;\n"
      "fetch 1 from cur;\n"
      "commit;\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring(std::string(sampleCards()[0].cvv.size(), '*') + "|1\n"));
  // cursor_to_xml reads the cursor's rows itself: its XML is masked whole.
  r = sidecar.psql(
      "begin;\n"
      "declare x cursor for select cvv from cards where id = 1;\n"
      "select cursor_to_xml('x', 10, true, false, '');\n"
      "commit;\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, !ContainsSubstring("<cvv>"));
  CHECK_THAT(r.out, !ContainsSubstring(sampleCards()[0].cvv));
  // JSON keeps its shape: the cvv field is redacted, card numbers masked, the rest readable.
  r = sidecar.psql("select to_jsonb(c) - 'created_ms' - 'phone' from cards c where id = 1;\n");
  INFO(r.err);
  const SampleCard& card = sampleCards()[0];
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["cvv"] == std::string(card.cvv.size(), '*'));
  CHECK(doc["pan"] == pciMasked(card.pan));
  CHECK(doc["holder"] == card.holder);
  // Reading a masked column in WHERE is not returning it; unrelated columns stay readable.
  r = sidecar.psql("select holder, id from cards where id = 1 and cvv is not null;\n");
  CHECK(r.out == sampleCards()[0].holder + "|1\n");
}

TEST_CASE("a card number cast to float8, money, bytea or an exponent JSON number is masked") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.column_rules = false;  // the detector alone must find them
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  // Computed values keep their type (hidden digits become zeros); table columns of these types
  // are described as text and masked like text. Card 1 is 4111 1111 1111 1111.
  struct Case {
    const char* sql;
    const char* want;
  };
  const Case kCases[] = {
      {"select pan_num::float8 from cards where id = 1", "4.111110000001111e+15"},
      {"select pan_num::money from cards where id = 1", "$4,111,110,000,001,111.00"},
      {"select (-pan_num)::numeric::money from cards where id = 1", "-$4,111,110,000,001,111.00"},
      {"select pan_num::numeric(20,2) from cards where id = 1", "4111110000001111.00"},
      {"select pan::bytea from cards where id = 1", "\\x343131312031312a2a202a2a2a2a2031313131"},
      {"select ('{\"n\":' || (pan_num::float8)::text || '}')::json from cards where id = 1",
       "{\"n\":\"411111******1111\"}"},
      {"select to_json(pan_num::float8) from cards where id = 1", "\"411111******1111\""},
      {"select array[pan_num::float8] from cards where id = 1", "{4.111110000001111e+15}"},
      {"select array[pan_num::numeric(30,2)] from cards where id = 1", "{4111110000001111.00}"},
      {"select pan_num::numeric(30,2)::text from cards where id = 1", "411111******1111.00"},
      {"select array[pan_num::numeric::money] from cards where id = 1",
       "{\"$4,111,110,000,001,111.00\"}"},
  };
  std::string sql = "set lc_monetary = 'C';\n";
  for (const auto& c : kCases) sql += std::string(c.sql) + ";\n";
  auto r = sidecar.psql(sql);
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == std::size(kCases) + 1);  // + SET's tag
  for (size_t i = 0; i < std::size(kCases); ++i) {
    INFO(kCases[i].sql);
    CHECK(lines[i + 1] == kCases[i].want);
  }
  CHECK(luhnRuns(r.out, /*standalone=*/true).empty());
  CHECK(sampleSecretsIn(r.out).empty());
  // The masked computed float8 still decodes as a float8 in a driver.
  auto py = sidecar.python(R"PY(
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("select pan_num::float8 as f from cards where id = 1")
print(cur.fetchone()[0])
cur.execute("select array[pan_num, 42] as a from cards where id = 1")
print(cur.fetchone()[0])
)PY");
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out == "4111110000001111.0\n[4111110000001111, 42]\n");
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// Regression (red-team round 5): binary results of ranges, geometric types and xid8 carried a
// card number as raw int8 / float8 bytes.
TEST_CASE("binary ranges, points and xid8 holding a card number are masked") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.column_rules = false;  // the detector alone must find them
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto py = sidecar.python(R"PY(
import struct, sys, psycopg
conn = psycopg.connect(sys.argv[1])
cur = conn.cursor(binary=True)
cur.execute("select int8range(1, pan_num), point(pan_num, 0), "
            "pan_num::text::xid8, array[int8range(pan_num, null)] from cards where id = 1")
rng, pt, xid, arr = cur.fetchone()
def num(v):
    return v if isinstance(v, int) else struct.unpack("!Q", bytes(v))[0]
print(rng.lower, rng.upper, struct.unpack("!dd", bytes(pt))[0], num(xid), arr[0].lower)
)PY");
  INFO("python: " << py.out << py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out ==
        "1 4111110000001111 4111110000001111.0 4111110000001111 "
        "4111110000001111\n");
}

// Regression: pg_stats showed the cvv column's values (histogram_bounds) to a read grant.
TEST_CASE("planner statistics do not show the values of a masked column") {
  auto& pg = sharedPg();
  pg.sqlOrThrow("analyze cards", "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select attname, most_common_vals, histogram_bounds from pg_stats "
      "where tablename = 'cards' and attname = 'cvv';\n"
      "select to_json(s) from pg_stats s where tablename = 'cards' and attname = 'cvv';\n"
      "select * from pg_stats where tablename = 'cards' and attname = 'cvv';\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], ContainsSubstring("cvv|"));
  CHECK_THAT(lines[1], ContainsSubstring("\"histogram_bounds\":\"*"));
  for (const auto& c : sampleCards()) {
    // As an array element ({123,456}) or a JSON string (["123","456"]).
    for (const std::string& form :
         {"{" + c.cvv + ",", "," + c.cvv + ",", "," + c.cvv + "}", "\"" + c.cvv + "\""}) {
      CHECK_THAT(r.out, !ContainsSubstring(form));
    }
  }
  // Round 6: advisory lock keys taken from a masked column show in pg_locks.
  const std::string cvv = sampleCards()[0].cvv;
  r = sidecar.psql(
      "begin;\n"
      "select pg_advisory_xact_lock(cvv::int, 0) from cards where id = 1;\n"
      "select pg_advisory_xact_lock(cvv::bigint) from cards where id = 1;\n"
      "select classid, objid from pg_locks where locktype = 'advisory' order by objsubid;\n"
      "select l.objid from pg_locks l where locktype = 'advisory';\n"
      "commit;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(cvv) == std::string::npos);
  CHECK_THAT(r.out, ContainsSubstring("***"));
}

TEST_CASE("errors of a statement that reads a masked column do not quote its data") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function shout(v text) returns int language plpgsql as $$ "
      "begin raise exception 'value %', v; end $$",
      "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const std::string cvv = sampleCards()[0].cvv;
  // Each makes PostgreSQL put card 1's cvv into the error text.
  const char* kLeaky[] = {
      "select (cvv || 'x')::int from cards where id = 1",
      "select cvv::regclass from cards where id = 1",
      "select current_setting(cvv) from cards where id = 1",
      "select ('{' || cvv)::json from cards where id = 1",
      "select shout(cvv) from cards where id = 1",
      "select 1 from cards c where id = 1 and (c::text)::int = 0",
      "select k::int from (select 'x' || cvv as k from cards where id = 1) s",
      // Numbers are written unquoted.
      "select make_date(cvv::int, 13, 1) from cards where id = 1",
      "select set_bit('\\x00'::bytea, cvv::int, 1) from cards where id = 1",
      // A WITH HOLD cursor's query runs at COMMIT.
      "begin; declare h cursor with hold for select (cvv || 'x')::int from cards where id = 1;"
      " commit",
      // Round 6: ... or at the end of the implicit transaction of a multi-statement query.
      "declare h cursor with hold for select (cvv || 'x')::int from cards where id = 1; "
      "select 1",
  };
  for (const char* sql : kLeaky) {
    INFO(sql);
    auto r = sidecar.psql(std::string(sql) + ";\n");
    INFO(r.err);
    CHECK_THAT(r.err, ContainsSubstring("ERROR"));
    CHECK(r.err.find(cvv) == std::string::npos);
  }
  // ... or at the Sync that ends an extended-protocol implicit transaction.
  auto raw = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
sql = "declare h cursor with hold for select (cvv || 'x')::int from cards where id = 1"
s.sendall(msg(b"P", z("") + z(sql) + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
ready()
)PY");
  INFO("raw: " << raw.out << raw.err);
  REQUIRE(raw.exit_code == 0);
  CHECK_THAT(raw.out, ContainsSubstring("22P02"));
  CHECK(raw.out.find(cvv) == std::string::npos);
  // Errors of statements that read no masked column keep their values.
  auto r = sidecar.psql("select holder::int from cards where id = 1;\n");
  CHECK_THAT(r.err, ContainsSubstring("\"" + sampleCards()[0].holder + "\""));
  r = sidecar.psql("select 'abc'::int;\n");
  CHECK_THAT(r.err, ContainsSubstring("invalid input syntax for type integer: \"abc\""));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// Review (session 22): PostgreSQL quotes a row, or its key, in a constraint's error whatever
// columns the statement names, and a composite column's fields in the errors of expressions
// over them; both went to the job in clear.
TEST_CASE("constraint errors of writes and errors over composite fields do not quote cvvs") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists ec_pay, ec_child, ec_parent, ec_cards, ec_wallets cascade;"
      "drop type if exists ec_rec;"
      "create table ec_cards (id int primary key, holder text not null, cvv text unique,"
      "  note text check (note <> 'bad'));"
      "insert into ec_cards values (1, 'ann', 'S3CR3T-1', 'n1'), (2, 'bob', 'S3CR3T-3', 'n2');"
      "create table ec_pay (id int, card_cvv text references ec_cards (cvv));"
      "insert into ec_pay values (1, 'S3CR3T-1');"
      "create table ec_parent (id int primary key);"
      "insert into ec_parent values (1);"
      "create table ec_child (id int, cvv text,"
      "  parent int not null references ec_parent (id) on delete set null);"
      "insert into ec_child values (1, 'S3CR3T-4', 1);"
      "create type ec_rec as (holder text, cvv text);"
      "create table ec_wallets (card ec_rec);"
      "insert into ec_wallets values (row('ann', 'S3CR3T-2'));"
      "grant all on ec_cards, ec_pay, ec_parent, ec_child, ec_wallets to app;",
      "payments");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  const char* kLeaky[] = {
      // NOT NULL, CHECK: "Failing row contains (1, null, S3CR3T-1, n1)".
      "update ec_cards set holder = null where id = 1",
      "update ec_cards set note = 'bad' where id = 1",
      "insert into ec_cards (id, holder) values (1, 'x') on conflict (id) do update set note = "
      "'bad'",
      "merge into ec_cards c using (select 1 as id) s on c.id = s.id when matched then update "
      "set holder = null",
      "with u as (update ec_cards set holder = null where id = 2 returning id) select 1",
      // A foreign key: "Key (cvv)=(S3CR3T-1) is still referenced from table ec_pay".
      "delete from ec_cards where id = 1",
      // A foreign key's action writes a table the statement does not name.
      "delete from ec_parent where id = 1",
      // A composite column's field (read grant rules: the field is under the cvv rule).
      "select ((card).cvv || 'x')::int from ec_wallets",
      "select ((card).cvv)::regclass from ec_wallets",
      "select card::text::int from ec_wallets",
  };
  for (const char* sql : kLeaky) {
    INFO(sql);
    auto r = sidecar.psql(std::string(sql) + ";\n");
    INFO(r.err);
    CHECK_THAT(r.err, ContainsSubstring("ERROR"));
    CHECK(r.err.find("S3CR3T") == std::string::npos);
  }
  // Errors of writes to tables without such a column keep their values.
  auto r = sidecar.psql("insert into ec_pay values (2, 'nosuchcard');\n");
  CHECK_THAT(r.err, ContainsSubstring("Key (card_cvv)=(nosuchcard) is not present"));
  r = sidecar.psql("insert into ec_parent values (1);\n");
  CHECK_THAT(r.err, ContainsSubstring("Key (id)=(1) already exists"));
  CHECK(sidecar.eventsText().find("S3CR3T") == std::string::npos);
  pg.sqlOrThrow("drop table ec_pay, ec_child, ec_parent, ec_cards, ec_wallets; drop type ec_rec",
                "payments");
}

// Red-team round 5: ways a card number or cvv reached the job or the events file in clear.
TEST_CASE("bytea text forms, RAISE fields, reported settings and quoted names stay masked") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function raise_fields(v text, code text default 'P0001') returns int "
      "language plpgsql as $$ begin raise exception 'x' using errcode = code, column = v, "
      "table = v, constraint = v, datatype = v, schema = v, hint = v; end $$",
      "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const SampleCard& card = sampleCards()[0];
  // bytea hex inside text and JSON, and a card number glued to an escape-format octal escape.
  auto r = sidecar.psql(
      "select row_to_json(t) from (select pan_vc::bytea as raw from cards where id = 1) t;\n"
      "select pan_vc::bytea::text from cards where id = 1;\n"
      "set bytea_output = 'escape';\n"
      "select (E'\\\\012' || pan_vc)::bytea from cards where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(absl::BytesToHexString(card.pan_vc)) == std::string::npos);
  CHECK(r.out.find(card.pan_vc) == std::string::npos);
  CHECK_THAT(r.out, ContainsSubstring("\\012411111******1111"));
  // A setting the server reports back (ParameterStatus) may not take a column's value.
  r = sidecar.psql(
      "select set_config('application_name', pan_vc, false) from cards where id = 1;\n"
      "select set_config('application_name', 'nightly', false);\n");
  CHECK_THAT(r.err, ContainsSubstring("42501"));
  CHECK(r.out == "nightly\n");
  // Every field a RAISE sets is withheld when it may hold a masked column's data.
  auto py = sidecar.python(R"PY(
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
cur = conn.cursor()
# Round 6: with a SQLSTATE of its choosing (22000), not only the default P0001.
for col in ("cvv", "pan_vc", "cvv, '22000'"):
    try:
        cur.execute("select raise_fields(" + col + ") from cards where id = 1")
    except psycopg2.Error as e:
        d = e.diag
        print(col, d.column_name, d.table_name, d.constraint_name, d.datatype_name,
              d.schema_name, d.message_hint)
)PY");
  INFO("python: " << py.out << py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out.find(" " + card.cvv) == std::string::npos);
  CHECK(py.out.find(card.pan_vc) == std::string::npos);
  CHECK_THAT(py.out, ContainsSubstring("withheld by tollgate"));
  // Quoted identifiers go into the statement's normalised text and objects.
  r = sidecar.psql(
      "select 1 as \"4111111111111111\";\n"
      "begin; savepoint \"5555555555554444\"; rollback;\n");
  CHECK(r.exit_code == 0);
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}
