// Bypass attempts, multi-statement text, parse errors and literal-free normalised text.
#include <catch2/catch_test_macros.hpp>

#include <string>

#include "policy/sql/analyzer.h"
#include "sql_support.h"

namespace tollgate::policy {
namespace {

using testing::Names;
using C = StatementClass;

struct Bypass {
  const char* sql;
  C cls;         // class of the most severe statement
  Names writes;  // union of writes over statements
  Names reads;   // union of reads over statements
};

const Bypass kBypasses[] = {
    {"/* harmless */ DELETE /* really */ FROM cards", C::kWrite, {"cards"}, {}},
    {"-- just a comment\nDELETE FROM cards -- trailing", C::kWrite, {"cards"}, {}},
    {"DeLeTe FrOm CaRdS", C::kWrite, {"cards"}, {}},
    {"SELECT * FROM \"CARDS\"", C::kRead, {}, {"CARDS"}},
    {"SELECT * FROM \"cards\"", C::kRead, {}, {"cards"}},
    {"SELECT * FROM U&\"\\0063ards\"", C::kRead, {}, {"cards"}},
    {"SELECT * FROM U&\"!0063ards\" UESCAPE '!'", C::kRead, {}, {"cards"}},
    {"SELECT $$; DROP TABLE x; $$", C::kRead, {}, {}},
    {"SELECT 1; DROP TABLE x", C::kDdl, {"x"}, {}},
    {"SELECT 'a;'; DELETE FROM cards", C::kWrite, {"cards"}, {}},
    {"SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT pan FROM cards) a) b) c",
     C::kRead,
     {},
     {"cards"}},
    {"SELECT * FROM t WHERE x IN (SELECT pg_read_file('/etc/passwd'))", C::kAdmin, {}, {"t"}},
    {"SELECT * FROM pg_read_file('/etc/passwd')", C::kAdmin, {}, {}},
    {"SELECT * FROM PG_CATALOG.PG_READ_FILE('/etc/passwd')", C::kAdmin, {}, {}},
    {"SELECT \"pg_read_file\"('/etc/passwd')", C::kAdmin, {}, {}},
    {"SELECT \"PG_READ_FILE\"('/etc/passwd')", C::kAdmin, {}, {}},
    {"SELECT * FROM ROWS FROM (dblink('h', 'q') AS (a int))", C::kAdmin, {}, {}},
    {"WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d", C::kWrite, {"cards"}, {}},
    {"WITH a AS (SELECT 1), b AS (UPDATE cards SET pan = '' RETURNING 1) SELECT * FROM a",
     C::kWrite,
     {"cards"},
     {}},
    {"SELECT * FROM (WITH cards AS (SELECT 1) SELECT * FROM cards) s, cards",
     C::kRead,
     {},
     {"cards"}},
    {"WITH cards AS (SELECT * FROM cards) SELECT * FROM cards", C::kRead, {}, {"cards"}},
    {"WITH x AS (SELECT 1) SELECT * FROM public.x", C::kRead, {}, {"public.x"}},
    {"EXPLAIN ANALYZE DELETE FROM cards", C::kWrite, {"cards"}, {}},
    {"EXPLAIN (ANALYZE TRUE, ANALYZE FALSE) DELETE FROM cards", C::kWrite, {"cards"}, {}},
    {"EXPLAIN ANALYZE SELECT * INTO x FROM cards", C::kDdl, {"x"}, {"cards"}},
    {"PREPARE p AS DELETE FROM cards", C::kWrite, {"cards"}, {}},
    {"DO $$BEGIN EXECUTE 'DROP TABLE cards'; END$$", C::kAdmin, {}, {}},
    {"BEGIN; DELETE FROM cards; COMMIT", C::kWrite, {"cards"}, {}},
    {"SELECT x.pg_read_file FROM (SELECT 'a' AS y) x", C::kAdmin, {}, {}},
    {"SELECT * FROM cards\n;\nTRUNCATE audit", C::kDdl, {"audit"}, {"cards"}},
    {"SELECT E'\\'; DELETE FROM cards; --'", C::kRead, {}, {}},
    {"SELECT 'a' \n 'b'; DELETE FROM cards", C::kWrite, {"cards"}, {}},
    {"CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM cards", C::kDdl, {"cards", "t"}, {}},
};

TEST_CASE("bypass attempts are seen", "[sql]") {
  for (const Bypass& b : kBypasses) {
    INFO(b.sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(b.sql);
    INFO(testing::dump(*q));
    REQUIRE(q->parsed);
    REQUIRE_FALSE(q->statements.empty());
    int worst = -1;
    Names writes;
    Names reads;
    for (const auto& s : q->statements) {
      worst = std::max(worst, classSeverity(s.cls));
      writes.insert(writes.end(), s.writes.begin(), s.writes.end());
      reads.insert(reads.end(), s.reads.begin(), s.reads.end());
    }
    CHECK(worst == classSeverity(b.cls));
    CHECK(writes == b.writes);
    CHECK(reads == b.reads);
  }
}

TEST_CASE("multi-statement text gives one fact set per statement", "[sql]") {
  QueryFactsPtr q = SqlAnalyzer::analyzeUncached(
      "SELECT * FROM a WHERE id = 1; DELETE FROM b; /* c */ SET ROLE x;");
  REQUIRE(q->parsed);
  REQUIRE(q->statements.size() == 3);
  CHECK(q->multiStatement());
  CHECK(q->statements[0].type == "select");
  CHECK(q->statements[0].normalized == "SELECT * FROM a WHERE id = $1");
  CHECK(q->statements[1].type == "delete");
  CHECK_FALSE(q->statements[1].has_where);
  CHECK(q->statements[1].normalized == "DELETE FROM b");
  CHECK(q->statements[2].cls == C::kAdmin);
  CHECK(q->statements[2].normalized == "SET ROLE $1");
  CHECK(q->statements[0].fingerprint != q->statements[1].fingerprint);
}

TEST_CASE("empty text parses to no statements", "[sql]") {
  for (const char* sql : {"", "   ", ";", "-- nothing\n", "/* nothing */ ;;"}) {
    INFO(sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(sql);
    CHECK(q->parsed);
    CHECK(q->statements.empty());
  }
}

TEST_CASE("parse errors never echo literals", "[sql]") {
  const char* cases[] = {
      "SELECT * FROM cards WHERE pan = '4111111111111111' AND",
      "SELECT '4111111111111111",
      "SELEC pan FROM cards WHERE pan = '4111111111111111'",
      "SELECT * FROM cards WHERE pan = 4111111111111111abc",
      "SELECT * FROM cards WHERE pan = 4111111111111111 4111111111111111",
      "SELECT $x$4111111111111111",
      "SELECT \"4111111111111111",
      "SELECT 1 /* 4111111111111111",
  };
  for (const char* sql : cases) {
    INFO(sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(sql);
    INFO(q->error);
    CHECK_FALSE(q->parsed);
    CHECK(q->statements.empty());
    CHECK_FALSE(q->error.empty());
    CHECK(q->error.find("4111") == std::string::npos);
    CHECK(q->error.find("1111") == std::string::npos);
  }
}

TEST_CASE("NUL byte in query text is a parse failure", "[sql]") {
  const std::string sql("SELECT 1\0; DROP TABLE cards", 27);
  QueryFactsPtr q = SqlAnalyzer::analyzeUncached(sql);
  CHECK_FALSE(q->parsed);
  CHECK(q->error.find("NUL") != std::string::npos);
}

TEST_CASE("deeply nested text fails closed", "[sql]") {
  std::string sql = "SELECT ";
  for (int i = 0; i < 400; ++i) sql += "(SELECT ";
  sql += "pg_read_file('x')";
  for (int i = 0; i < 400; ++i) sql += ")";
  QueryFactsPtr q = SqlAnalyzer::analyzeUncached(sql);
  CHECK_FALSE(q->parsed);
  CHECK_FALSE(q->error.empty());
}

TEST_CASE("normalised text holds no literal", "[sql]") {
  const char* cases[] = {
      "SELECT * FROM cards WHERE pan = '4111111111111111'",
      "SELECT * FROM cards WHERE pan = 4111111111111111",
      "INSERT INTO cards VALUES (E'4111111111111111', U&'4111111111111111', $$4111111111111111$$)",
      "COPY cards TO PROGRAM 'echo 4111111111111111'",
      "COPY cards FROM '/tmp/4111111111111111'",
      "DO $$BEGIN PERFORM 4111111111111111; END$$",
      "CREATE ROLE r PASSWORD '4111111111111111'",
      "SELECT 1 /* 4111111111111111 */ -- 4111111111111111\n",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 4111111111111111'",
      "EXPLAIN (ANALYZE '4111111111111111') SELECT 1",
      "SELECT B'0100000100010001', X'4111111111111111', 4111111111111111.5e3",
      "CREATE SEQUENCE s START 4111111111111111",
      "FETCH 41119 FROM c",
      "PREPARE TRANSACTION '4111111111111111'",
      "SELECT interval '4111111111111111 seconds'",
      "SELECT 'a'\n'4111111111111111'",
  };
  for (const char* sql : cases) {
    INFO(sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(sql);
    INFO(testing::dump(*q));
    REQUIRE(q->parsed);
    for (const auto& s : q->statements) {
      CHECK(s.normalized.find("4111") == std::string::npos);
      CHECK_FALSE(s.normalized.empty());
    }
  }
}

}  // namespace
}  // namespace tollgate::policy
