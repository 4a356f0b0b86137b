// Writes that would store data a rule masks where it is read unmasked (masking.copies: refuse),
// through the real sidecar and a real PostgreSQL: copies from a column, a view, a function, a
// prepared statement's arguments; INSERT ... SELECT * judged by the columns of the tables the
// star expands to, and judged again once the session may have changed tables (DDL, an admin
// statement, a fast-path call, a call of one of the database's own functions whose body may);
// composite values judged by their fields, also after such a function changed their type; what
// the triggers and rules on the tables written store; values carried by PL/pgSQL variables.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using namespace tollgate::testing;

namespace {

constexpr int kPgresTuplesOk = 2;
constexpr char kRefused[] = "42501: blocked by rule \"masking:copy\"";

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

// A sidecar in front of the shared server for a job with a write grant.
SidecarOptions writeGrant() {
  SidecarOptions o;
  o.subject = kOpsSubject;
  return o;
}

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
      "execute put_note((select cvv from cards where id = 1));\n"
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
  CHECK(countOf(r.err, kRefused) == 14);
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
      "'select tg_mktemp(); select 1';",
      kPgAppDatabase);
  SidecarOptions o;
  o.subject = kDbaSubject;  // an admin grant, so its DDL runs; copies are judged for every role
  o.policy.guardrails = false;
  Sidecar sidecar(pg, o);
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
      "select tg_noop();\n"
      "insert into orders_archive select * from orders_src where false;\n");
  CHECK(r.out == "1\nINSERT 0 0\n");
  CHECK(r.err == "");
  for (const char* call : {"tg_mktemp", "tg_calls_mktemp"}) {
    r = sidecar.psql("select " + std::string(call) +
                     "() is null;\n"
                     "insert into orders_archive select * from orders_src where false;\n");
    INFO(call << " stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.out == "f\n");  // void is not null
    CHECK_THAT(r.err, ContainsSubstring(kRefused));
  }
  // So after an admin statement: an extension's script may create tables.
  r = sidecar.psql(
      "create extension if not exists citext;\n"
      "insert into orders_archive select * from orders_src;\n");
  CHECK(r.out == "CREATE EXTENSION\n");
  CHECK_THAT(r.err, ContainsSubstring(kRefused));
  // And after a fast-path call, which names its function by OID only (pg_backend_pid here).
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"F", struct.pack("!IHHH", 2026, 0, 0, 0)))
types = []
while not types or types[-1] != "Z":
    types.append(read_message()[0].decode())
print("".join(types))
s.sendall(msg(b"Q", z("insert into orders_archive select * from orders_src")))
while True:
    t, body = read_message()
    if t == b"E": print(body.decode(errors="replace"))
    if t == b"Z": break
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
  CHECK(countOf(r.err, kRefused) == 6);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in columns it does not name"));
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"ins\" stores a `*`"));
  const std::string cards = std::to_string(sampleCards().size());
  CHECK(r.out ==
        "INSERT 0 2\nINSERT 0 2\nINSERT 0 " + cards + "\nPREPARE\nALTER TABLE\nUPDATE 2\n4\n");
  CHECK(pg.sqlOrThrow("select count(*) from orders_archive where note is not null",
                      kPgAppDatabase) == "0\n");

  // A later session reads the table as it is now.
  r = sidecar.psql("insert into orders_archive select * from orders_src;\n");
  CHECK_THAT(r.err, ContainsSubstring(kRefused));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in columns it does not name"));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
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
      "grant all on fs_orders, fs_orders_archive, fs_cards_archive, fs_audit, fs_cards to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select fs_archive_orders();\n"
      "select fs_archive_cards();\n"
      "select fs_archive_after_ddl();\n"
      "update fs_cards set holder = 'x' where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kRefused) == 3);
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
  CHECK(countOf(r.err, kRefused) == 16);
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
  SidecarOptions o;
  o.subject = kDbaSubject;  // an admin grant, so its DDL runs
  o.policy.guardrails = false;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "prepare put as update plain_copy set note = rec::text where id = 1;\n"
      "execute put;\n"
      "alter type tg_plainrec add attribute cvv text;\n"
      "update plain_copy set rec.cvv = '987' where id = 1;\n"
      "execute put;\n"
      "select note from plain_copy;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kRefused) == 1);
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"put\" stores a `*` or a composite"));
  CHECK(r.out == "PREPARE\nUPDATE 1\nALTER TYPE\nUPDATE 1\n(Ann,c1)\n");
  CHECK(pg.sqlOrThrow("select count(*) from plain_copy where note like '%987%'", kPgAppDatabase) ==
        "0\n");
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

TEST_CASE("what the triggers and rules of a write store is judged as the write's") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tg_trig_log, tg_trig_a, tg_trig_b, tg_trig_c, tg_trig_d, tg_trig_e, "
      "tg_trig_f, tg_trig_g, tg_trig_orders, tg_rule_t, tg_trig_parted, tg_people, "
      "tg_parted_orders, tg_dyn_orders, tg_mv cascade;"
      "create table tg_trig_log (id serial, row_data jsonb, note text, cvv text);"
      "create table tg_trig_a (id int primary key, holder text, cvv text);"
      "create table tg_trig_b (like tg_trig_a); create table tg_trig_c (like tg_trig_a);"
      "create table tg_trig_orders (id int primary key, total int);"
      "create table tg_rule_t (like tg_trig_a);"
      "create table tg_trig_parted (id int, holder text, cvv text) partition by list (id);"
      "create table tg_trig_part1 partition of tg_trig_parted for values in (1);"
      // An audit trigger logging whole rows, one copying the cvv where no rule masks it, one
      // copying it where the same rule does.
      "create or replace function tg_log_row() returns trigger language plpgsql as $$ begin "
      "insert into tg_trig_log (row_data) values (to_jsonb(new)); return new; end $$;"
      "create or replace function tg_log_cvv() returns trigger language plpgsql as $$ begin "
      "insert into tg_trig_log (note) values (new.cvv); return new; end $$;"
      "create or replace function tg_log_same() returns trigger language plpgsql as $$ begin "
      "new.holder := upper(new.holder); insert into tg_trig_log (cvv) values (new.cvv); "
      "return new; end $$;"
      // A BEFORE trigger copying the cvv into the row's note.
      "create table tg_trig_d (id int, holder text, cvv text, note text);"
      "create or replace function tg_note_cvv() returns trigger language plpgsql as $$ begin "
      "new.note := new.cvv; return new; end $$;"
      "create trigger d before insert on tg_trig_d for each row execute function tg_note_cvv();"
      // A trigger handing NEW to a function that stores its argument.
      "create table tg_trig_e (like tg_trig_a);"
      "create or replace function tg_log_payload(p jsonb) returns void language sql "
      "as $$ insert into tg_trig_log (row_data) values (p) $$;"
      "create or replace function tg_log_via() returns trigger language plpgsql as $$ begin "
      "perform tg_log_payload(to_jsonb(new)); return new; end $$;"
      "create trigger e after insert on tg_trig_e for each row execute function tg_log_via();"
      // An updatable view over a table with a trigger; an inheritance child with a cvv column
      // its parent does not have, and a trigger.
      "create or replace view tg_trig_a_v as select * from tg_trig_a;"
      "create table tg_people (id int, holder text);"
      "create table tg_card_people (cvv text) inherits (tg_people);"
      "create trigger cp after update on tg_card_people for each row "
      "execute function tg_log_row();"
      "insert into tg_card_people values (1, 'H', '9');"
      // A BEFORE trigger filling the note from the cards table (SELECT ... INTO NEW.note).
      "create table tg_trig_f (like tg_trig_d);"
      "create or replace function tg_note_from_cards() returns trigger language plpgsql as $$ "
      "begin select c.cvv into new.note from cards c order by c.id limit 1; return new; end $$;"
      "create trigger f before insert on tg_trig_f for each row "
      "execute function tg_note_from_cards();"
      // A partition with a whole-row audit trigger, of a table with no masked column.
      "create table tg_parted_orders (id int, total int) partition by list (id);"
      "create table tg_parted_orders1 partition of tg_parted_orders for values in (1);"
      "create trigger po after update on tg_parted_orders1 for each row "
      "execute function tg_log_row();"
      "insert into tg_parted_orders values (1, 1);"
      // Audit triggers through dynamic SQL: the written row, stored where the sidecar cannot
      // see; on a table with a masked column and on one without.
      "create or replace function tg_log_dynamic() returns trigger language plpgsql as $$ "
      "begin execute 'insert into tg_trig_log (row_data) values (to_jsonb($1))' using new; "
      "return new; end $$;"
      "create table tg_trig_g (like tg_trig_a); insert into tg_trig_g values (1, 'G', '8');"
      "create trigger g after update on tg_trig_g for each row execute function tg_log_dynamic();"
      "create table tg_dyn_orders (id int, total int); insert into tg_dyn_orders values (1, 1);"
      "create trigger dy after update on tg_dyn_orders for each row "
      "execute function tg_log_dynamic();"
      "create trigger a after update on tg_trig_a for each row execute function tg_log_row();"
      "create trigger b after insert on tg_trig_b for each row execute function tg_log_cvv();"
      "create trigger c before insert or update on tg_trig_c for each row "
      "execute function tg_log_same();"
      "create trigger o after update on tg_trig_orders for each row "
      "execute function tg_log_row();"
      "create trigger p after update on tg_trig_part1 for each row "
      "execute function tg_log_cvv();"
      // INSERT and DELETE triggers on a partition: an UPDATE through its partitioned table may
      // move a row, an UPDATE of the partition itself may not.
      "create table tg_mv (id int, holder text, cvv text) partition by list (id);"
      "create table tg_mv1 partition of tg_mv for values in (1);"
      "create table tg_mv2 partition of tg_mv for values in (2);"
      "insert into tg_mv values (1, 'M', '6');"
      "create trigger mv after insert or delete on tg_mv1 for each row "
      "execute function tg_log_cvv();"
      "create rule tg_rule_log as on insert to tg_rule_t do also "
      "insert into tg_trig_log (note) values (new.cvv);"
      "insert into tg_trig_a values (1, 'Ann', '123'); insert into tg_trig_c values (1, 'C', '1');"
      "insert into tg_trig_orders values (1, 1); insert into tg_trig_parted values (1, 'P', '7');"
      "truncate tg_trig_log;"
      "grant all on tg_trig_log, tg_trig_a, tg_trig_b, tg_trig_c, tg_trig_d, tg_trig_e, "
      "tg_trig_orders, tg_rule_t, tg_trig_parted, tg_trig_part1, tg_trig_a_v, tg_people, "
      "tg_card_people, tg_trig_f, tg_parted_orders, tg_parted_orders1, tg_trig_g, "
      "tg_dyn_orders, tg_mv, tg_mv1, tg_mv2 to app; grant all on "
      "sequence tg_trig_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "update tg_trig_a set holder = 'x' where id = 1;\n"
      "insert into tg_trig_b values (2, 'b', '999');\n"
      "insert into tg_trig_d (id, cvv) values (1, '555');\n"
      "insert into tg_trig_e values (1, 'e', '4');\n"
      "update tg_trig_a_v set holder = 'v' where id = 1;\n"
      "update tg_people set holder = 'x' where id = 1;\n"
      "insert into tg_trig_f (id) values (1);\n"
      "update tg_trig_g set holder = 'x' where id = 1;\n"
      "insert into tg_rule_t values (1, 'r', '111');\n"
      "update tg_trig_parted set holder = 'x' where id = 1;\n"
      "with d as (update tg_trig_a set holder = 'y' where id = 1 returning id) "
      "select count(*) from d;\n"
      "insert into tg_trig_a values (1, 'u', '1') on conflict (id) do update set holder = 'u';\n"
      "update tg_mv set holder = 'x' where id = 1;\n"
      // Allowed: no trigger on DELETE, nor on INSERT without ON CONFLICT DO UPDATE, nor on
      // UPDATE of a table whose rows cannot move; the cvv stored where the same rule masks it; a
      // whole row with no masked column.
      "delete from tg_trig_a where id = 99;\n"
      "insert into tg_trig_a values (2, 'n', '2');\n"
      "update tg_trig_b set holder = 'x' where id = 1;\n"
      "update tg_mv1 set holder = 'x' where id = 1;\n"
      "update tg_trig_c set holder = 'x' where id = 1;\n"
      "update tg_trig_orders set total = 2 where id = 1;\n"
      "update public.tg_trig_orders set total = 3 where id = 1;\n"
      "update tg_parted_orders set total = 2 where id = 1;\n"
      "update tg_dyn_orders set total = 2 where id = 1;\n"
      "select count(*) from tg_trig_log where note is not null or row_data ? 'cvv';\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kRefused) == 13);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column row_data"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column note"));
  CHECK_THAT(r.err, ContainsSubstring("a rule on a table it writes"));
  CHECK(r.out ==
        "DELETE 0\nINSERT 0 1\nUPDATE 0\nUPDATE 1\nUPDATE 1\nUPDATE 1\nUPDATE 1\nUPDATE 1\n"
        "UPDATE 1\n0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_log", kPgAppDatabase) == "5\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_b", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_d", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_f", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select holder from tg_trig_c", kPgAppDatabase) == "X\n");
}

TEST_CASE("what PL/pgSQL variables carry is judged where a body stores them") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tg_var_notes, tg_var_log, tg_var_t, tg_var_u cascade;"
      "create table tg_var_notes (id serial, note text);"
      "create table tg_var_log (row_data jsonb);"
      "create table tg_var_t (id int, holder text, cvv text);"
      "create table tg_var_u (like tg_var_t);"
      "insert into tg_var_t values (1, 'T', '321'); insert into tg_var_u values (1, 'U', '654');"
      // The cvv into a variable, then stored: through SELECT INTO, a record's renamed field, an
      // error's text (the failed cast quotes the value).
      "create or replace function tg_var_stash() returns void language plpgsql as $$ "
      "declare v text; begin select cvv into v from cards order by id limit 1; "
      "insert into tg_var_notes (note) values (v); end $$;"
      "create or replace function tg_var_loop() returns void language plpgsql as $$ "
      "declare r record; begin for r in select cvv as k from cards order by id loop "
      "insert into tg_var_notes (note) values (r.k); exit; end loop; end $$;"
      "create or replace function tg_var_err() returns void language plpgsql as $$ "
      "begin perform cvv::int / 0 from cards; exception when others then "
      "insert into tg_var_notes (note) values (sqlerrm); end $$;"
      // Only compared: the stored variable holds a constant.
      "create or replace function tg_var_check(given text) returns void language plpgsql as $$ "
      "declare v text; msg text := 'checked'; begin "
      "select cvv into v from cards order by id limit 1; "
      "if v is distinct from given then insert into tg_var_notes (note) values (msg); end if; "
      "end $$;"
      // Audit triggers logging the row through a record variable and through an ALIAS.
      "create or replace function tg_var_row() returns trigger language plpgsql as $$ "
      "declare r record; begin r := new; insert into tg_var_log (row_data) values (to_jsonb(r)); "
      "return new; end $$;"
      "create or replace function tg_var_alias() returns trigger language plpgsql as $$ "
      "declare n alias for new; begin insert into tg_var_log (row_data) values (to_jsonb(n)); "
      "return new; end $$;"
      "create trigger t after update on tg_var_t for each row execute function tg_var_row();"
      "create trigger u after update on tg_var_u for each row execute function tg_var_alias();"
      "grant all on tg_var_notes, tg_var_log, tg_var_t, tg_var_u to app;"
      "grant all on sequence tg_var_notes_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select tg_var_stash();\n"
      "select tg_var_loop();\n"
      "select tg_var_err();\n"
      "update tg_var_t set holder = 'x' where id = 1;\n"
      "update tg_var_u set holder = 'x' where id = 1;\n"
      "select tg_var_check('1');\n"
      "select count(*) from tg_var_notes;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kRefused) == 5);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column note"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column row_data"));
  CHECK(r.out == "\n1\n");
  CHECK(pg.sqlOrThrow("select note from tg_var_notes", kPgAppDatabase) == "checked\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_var_log", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select holder from tg_var_t", kPgAppDatabase) == "T\n");
}
