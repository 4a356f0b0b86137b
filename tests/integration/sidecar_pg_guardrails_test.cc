// Statement blocking through the real sidecar and a real PostgreSQL: DDL in and out of a
// transaction, multi-statement queries, read vs write grants, unbounded DELETE, COPY in.
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// Number of rows in cards, counted by the superuser directly on the server.
std::string cardCount(const PgServer& pg, const std::string& where = "true") {
  return pg.sqlOrThrow("select count(*) from cards where " + where + ";", kPgAppDatabase);
}

bool cardsTableExists(const PgServer& pg) {
  return pg.sqlOrThrow("select to_regclass('public.cards') is not null;", kPgAppDatabase) == "t\n";
}

}  // namespace

TEST_CASE("DROP TABLE is blocked with 42501 naming the rule, and the table survives") {
  auto& pg = sharedPg();
  for (const char* subject : {kCiSubject, kOpsSubject}) {
    INFO(subject);
    SidecarOptions o;
    o.subject = subject;
    Sidecar sidecar(pg, o);
    REQUIRE(sidecar.ready());
    auto r = sidecar.psql("drop table cards;\nselect 'after';\n");
    CHECK_THAT(r.err, ContainsSubstring("ERROR:  42501: blocked by rule \""));
    CHECK_THAT(r.err, ContainsSubstring("ddl statements (drop)"));
    CHECK(r.out == "after\n");
    CHECK(cardsTableExists(pg));
  }
}

TEST_CASE("with an admin grant, DDL is stopped by the no-ddl guardrail and its message") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.subject = kDbaSubject;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "drop table cards;\n"
      "alter table cards add column leaked text;\n"
      "delete from cards;\n"
      "select 'after';\n");
  INFO("stderr: " << r.err);
  CHECK(countOf(r.err, "ERROR:  42501: blocked by rule \"no-ddl\"") == 2);
  CHECK_THAT(r.err, ContainsSubstring("DDL is not allowed from jobs"));
  CHECK_THAT(r.err, ContainsSubstring("\"unbounded-delete\""));
  CHECK(r.out == "after\n");
  CHECK(cardsTableExists(pg));
  CHECK(cardCount(pg, "id <= 6") == "6\n");
  CHECK(pg.sqlOrThrow("select count(*) from information_schema.columns where table_name = "
                      "'cards' and column_name = 'leaked';",
                      kPgAppDatabase) == "0\n");
}

TEST_CASE("a statement blocked inside BEGIN aborts the transaction; ROLLBACK recovers") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "begin;\n"
      "select 'in-tx';\n"
      "drop table cards;\n"
      "select 'must-not-run';\n"
      "rollback;\n"
      "select 'usable-again';\n"
      "select count(*) from cards where id <= 6;\n");
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "BEGIN\nin-tx\nROLLBACK\nusable-again\n6\n");
  CHECK_THAT(r.err, ContainsSubstring("ERROR:  42501: blocked by rule"));
  CHECK_THAT(r.err, ContainsSubstring("ERROR:  25P02: current transaction is aborted"));
  CHECK(cardsTableExists(pg));
}

TEST_CASE("a multi-statement query with a blocked statement is blocked as a whole") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // psql -c sends the whole string as one simple Query message.
  auto r = run({"psql", "-X", "-At", "-v", "VERBOSITY=verbose", "-d", sidecar.conninfo(), "-c",
                "SELECT 'first-part'; DROP TABLE cards"});
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("first-part") == std::string::npos);
  CHECK_THAT(r.err, ContainsSubstring("42501"));
  CHECK_THAT(r.err, ContainsSubstring("(statement 2 of 2)"));
  CHECK(cardsTableExists(pg));
  // A write smuggled behind a read in one Query does not run either.
  auto w = run({"psql", "-X", "-At", "-d", sidecar.conninfo(), "-c",
                "SELECT 1; UPDATE cards SET holder = 'pwned' WHERE id = 1"});
  CHECK(w.exit_code != 0);
  CHECK(cardCount(pg, "holder = 'pwned'") == "0\n");
}

TEST_CASE("a read grant cannot write; a write grant can, but not an unbounded DELETE") {
  auto& pg = sharedPg();
  pg.sqlOrThrow("delete from cards where id between 200 and 299;", kPgAppDatabase);
  {
    Sidecar reader(pg);
    REQUIRE(reader.ready());
    auto r = reader.psql(
        "insert into cards (id, holder) values (200, 'reader');\n"
        "update cards set holder = 'reader' where id = 1;\n"
        "delete from cards where id = 1;\n"
        "select 'reads-still-work';\n");
    CHECK(countOf(r.err, "ERROR:  42501: blocked by rule \"role:read\"") == 3);
    CHECK(r.out == "reads-still-work\n");
    CHECK(cardCount(pg, "id = 200 or holder = 'reader'") == "0\n");
    CHECK(cardCount(pg, "id = 1") == "1\n");
  }
  Sidecar writer(pg, writeGrant());
  REQUIRE(writer.ready());
  auto w = writer.psql(
      "insert into cards (id, holder, pan) values (201, 'writer', '4111111111111111');\n"
      "update cards set holder = 'writer2' where id = 201;\n"
      "select holder, pan from cards where id = 201;\n"
      "delete from cards;\n"
      "update cards set holder = 'everyone';\n"
      "delete from cards where id = 201;\n");
  INFO("stderr: " << w.err);
  CHECK(w.out == "INSERT 0 1\nUPDATE 1\nwriter2|411111******1111\nDELETE 1\n");
  CHECK(countOf(w.err, "ERROR:  42501:") == 2);
  CHECK_THAT(w.err, ContainsSubstring("\"unbounded-delete\""));
  CHECK(cardCount(pg, "id <= 6") == "6\n");
  CHECK(cardCount(pg, "holder = 'everyone'") == "0\n");
  CHECK(cardCount(pg, "id = 201") == "0\n");
  CHECK(cardNumbersInAuditAndLog(writer).empty());
}

// Regression: a read grant wrote through a function (statement analysis cannot see into it).
TEST_CASE("a read grant's transactions are read-only in the server, and stay so") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function rename_holder(i int, h text) returns int language sql as "
      "$$ update cards set holder = h where id = i returning 1 $$;"
      "alter function rename_holder(int, text) owner to app;",
      kPgAppDatabase);
  pg.sqlOrThrow(
      "delete from cards where id = 300; insert into cards (id, holder) values "
      "(300, 'before');",
      kPgAppDatabase);
  {
    Sidecar reader(pg);
    REQUIRE(reader.ready());
    auto r = reader.psql(
        "select rename_holder(300, 'reader');\n"
        "reset all;\n"
        "select rename_holder(300, 'reader');\n"
        "set default_transaction_read_only = off;\n"
        "set session characteristics as transaction read write;\n"
        "begin read write;\n"
        "begin;\n"
        "set transaction read write;\n"
        "rollback;\n"
        "select current_setting('default_transaction_read_only');\n");
    INFO("stderr: " << r.err);
    CHECK(countOf(r.err, "ERROR:  25006: cannot execute UPDATE in a read-only transaction") == 2);
    CHECK(countOf(r.err, "ERROR:  42501: blocked by rule \"role:read\"") == 4);
    CHECK_THAT(r.out, ContainsSubstring("on\n"));
    // Nor at startup.
    auto startup = reader.psql("select 1;\n", {},
                               "sslmode=disable options='-c default_transaction_read_only=off'");
    CHECK_THAT(startup.err, ContainsSubstring("may not set default_transaction_read_only off"));
    CHECK(cardCount(pg, "id = 300 and holder = 'before'") == "1\n");
  }
  Sidecar writer(pg, writeGrant());
  REQUIRE(writer.ready());
  auto w = writer.psql("select rename_holder(300, 'writer');\n");
  INFO("stderr: " << w.err);
  CHECK(w.out == "1\n");
  CHECK(cardCount(pg, "id = 300 and holder = 'writer'") == "1\n");
  pg.sqlOrThrow("delete from cards where id = 300;", kPgAppDatabase);
}

TEST_CASE("COPY in: a write grant loads rows unchanged, a read grant is refused") {
  auto& pg = sharedPg();
  pg.sqlOrThrow("delete from cards where id between 300 and 399;", kPgAppDatabase);
  const std::string copy =
      "\\copy cards (id, holder, pan, cvv) from stdin\n"
      "300\tCopy One\t5555555555554444\t111\n"
      "301\tCopy Two\t378282246310005\t2222\n"
      "\\.\n"
      "select id, pan, cvv from cards where id between 300 and 399 order by id;\n";
  {
    Sidecar reader(pg);
    REQUIRE(reader.ready());
    auto r = reader.psql(copy);
    CHECK_THAT(r.err, ContainsSubstring("42501"));
    CHECK(cardCount(pg, "id between 300 and 399") == "0\n");
  }
  Sidecar writer(pg, writeGrant());
  REQUIRE(writer.ready());
  auto w = writer.psql(copy);
  INFO("stderr: " << w.err);
  CHECK(w.exit_code == 0);
  // The job reads its rows back masked...
  CHECK(w.out == "COPY 2\n300|555555******4444|***\n301|378282*****0005|****\n");
  // ...while the server stored exactly what was sent.
  CHECK(pg.sqlOrThrow("select id, pan, cvv from cards where id between 300 and 399 order by id;",
                      kPgAppDatabase) == "300|5555555555554444|111\n301|378282246310005|2222\n");
  pg.sqlOrThrow("delete from cards where id between 300 and 399;", kPgAppDatabase);
  CHECK(cardNumbersInAuditAndLog(writer).empty());
}
