// Shape cache: cached and fresh analysis agree; literal values never conflate different facts.
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <thread>
#include <vector>

#include "policy/sql/analyzer.h"
#include "policy/sql/sql_lexer.h"
#include "sql_support.h"

namespace tollgate::policy {
namespace {

bool sameFacts(const QueryFacts& a, const QueryFacts& b) {
  return testing::dump(a) == testing::dump(b);
}

const char* const kCorpus[] = {
    "SELECT * FROM cards WHERE id = 42",
    "SELECT * FROM cards WHERE id = 43",
    "select * from cards where id = 44 -- trace 1",
    "SELECT * FROM cards /* a */ WHERE id = 45",
    "DELETE FROM t WHERE x = 1",
    "DELETE FROM t",
    "UPDATE accounts SET balance = balance + 10 WHERE aid = 5",
    "UPDATE accounts SET balance = balance + -7 WHERE aid = 99",
    "INSERT INTO t VALUES (1, 'a', 2.5)",
    "INSERT INTO t VALUES (2, 'b''c', 3.75)",
    "EXPLAIN (ANALYZE 0) DELETE FROM t",
    "EXPLAIN (ANALYZE 1) DELETE FROM t",
    "EXPLAIN (ANALYZE 'off') DELETE FROM t",
    "EXPLAIN (ANALYZE 'on') DELETE FROM t",
    "DO $$BEGIN DELETE FROM a; END$$",
    "DO $$BEGIN DELETE FROM b; END$$",
    "DO 'BEGIN DELETE FROM a; END'",
    "DO 'BEGIN PERFORM 1; END'",
    "DO LANGUAGE 'plpgsql' 'BEGIN DELETE FROM a; END'",
    "SET standard_conforming_strings = 'on'",
    "SET standard_conforming_strings = 'off'",
    "SELECT * FROM U&\"d!0061ta\" UESCAPE '!'",
    "SELECT * FROM U&\"d!0061ta\" UESCAPE '#'",
    "COPY t FROM STDIN",
    "COPY t FROM '/tmp/a'",
    "COPY t TO PROGRAM 'cat'",
    "SELECT E'x\\'; DELETE FROM cards; --'",
    "SELECT 'x'; DELETE FROM cards; --'",
    "SELECT 'a'\n'b'",
    "SELECT 'a' 'b'",
    "SELECT $1, $2 FROM t WHERE a = 3",
    "SELECT 1.5, 2, .5, 1e5 FROM t",
    "SELECT t1.c2 FROM t1 WHERE c3 = 10",
    "CREATE SEQUENCE s START 10",
    "CREATE SEQUENCE s START 20",
    "FETCH 10 FROM c",
    "SELECT pg_read_file('a')",
    "SELECT * FROM t LIMIT 10",
    "SELECT 'unterminated",
    "BEGIN; UPDATE t SET a = 1 WHERE id = 3; COMMIT",
    "SELECT set_config('search_path', '', false)",
    "SELECT set_config('role', '', false)",
    "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name = 'search_path'",
    "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name = 'role'",
    "COPY t (a) TO STDOUT",
    "COPY t (a) TO STDOUT (FORMAT csv, DELIMITER ';')",
    "COPY t (a) TO STDOUT (FORMAT csv, DELIMITER '|')",
    "COPY t (a) TO STDOUT (FORMAT 'binary')",
};

TEST_CASE("cached and uncached analysis agree on a corpus", "[sql][cache]") {
  SqlAnalyzer analyzer(64);
  for (int round = 0; round < 3; ++round) {
    for (const char* sql : kCorpus) {
      INFO(sql);
      QueryFactsPtr cached = analyzer.analyze(sql);
      QueryFactsPtr fresh = SqlAnalyzer::analyzeUncached(sql);
      INFO(testing::dump(*cached));
      INFO(testing::dump(*fresh));
      CHECK(sameFacts(*cached, *fresh));
    }
  }
}

TEST_CASE("a repeated shape with other literal values is a cache hit", "[sql][cache]") {
  SqlAnalyzer analyzer;
  QueryFactsPtr first = analyzer.analyze("SELECT * FROM cards WHERE id = 42 AND name = 'x'");
  QueryFactsPtr second = analyzer.analyze("SELECT * FROM cards  WHERE id = 7 AND name = 'yy'");
  CHECK(first.get() == second.get());
  QueryFactsPtr commented =
      analyzer.analyze("SELECT * FROM cards WHERE id = 9 AND name = '' /* traceparent */");
  CHECK(first.get() == commented.get());
  QueryFactsPtr other = analyzer.analyze("SELECT * FROM cards WHERE id = 42 OR name = 'x'");
  CHECK(first.get() != other.get());
}

TEST_CASE("DELETE with and without WHERE never share an analysis", "[sql][cache]") {
  SqlAnalyzer analyzer;
  CHECK(analyzer.analyze("DELETE FROM t WHERE x = 1")->statements[0].has_where);
  CHECK_FALSE(analyzer.analyze("DELETE FROM t")->statements[0].has_where);
  CHECK(analyzer.analyze("DELETE FROM t WHERE x = 2")->statements[0].has_where);
}

TEST_CASE("literal-sensitive shapes are cached by exact text", "[sql][cache]") {
  SqlAnalyzer analyzer;
  // Regression: EXPLAIN (ANALYZE 0) and (ANALYZE 1) differ only in a number.
  CHECK(analyzer.analyze("EXPLAIN (ANALYZE 0) DELETE FROM t")->statements[0].cls ==
        StatementClass::kRead);
  CHECK(analyzer.analyze("EXPLAIN (ANALYZE 1) DELETE FROM t")->statements[0].cls ==
        StatementClass::kWrite);
  CHECK(analyzer.analyze("EXPLAIN (ANALYZE 0) DELETE FROM t")->statements[0].cls ==
        StatementClass::kRead);
  // Regression: DO bodies given as plain strings differ only in a string literal.
  CHECK(analyzer.analyze("DO 'BEGIN PERFORM 1; END'")->statements[0].writes.empty());
  CHECK(analyzer.analyze("DO 'BEGIN DELETE FROM a; END'")->statements[0].writes ==
        testing::Names{"a"});
  CHECK(analyzer.analyze("SET standard_conforming_strings = 'on'")->statements[0].cls ==
        StatementClass::kOther);
  CHECK(analyzer.analyze("SET standard_conforming_strings = 'off'")->statements[0].cls ==
        StatementClass::kAdmin);
  // The setting set_config changes is a string literal.
  CHECK(analyzer.analyze("SELECT set_config('search_path', '', false)")->statements[0].cls ==
        StatementClass::kRead);
  CHECK(analyzer.analyze("SELECT set_config('role', '', false)")->statements[0].cls ==
        StatementClass::kAdmin);
  CHECK(analyzer.analyze("SELECT set_config(name, '', false) FROM pg_settings WHERE name = 'role'")
            ->statements[0]
            .cls == StatementClass::kAdmin);
  // COPY options decide how the sidecar reads the rows it masks.
  auto delimiter = [&](const char* sql) {
    const auto& copy = analyzer.analyze(sql)->statements[0].copy_out;
    return copy ? copy->delimiter : '?';
  };
  CHECK(delimiter("COPY t (a) TO STDOUT (FORMAT csv, DELIMITER ';')") == ';');
  CHECK(delimiter("COPY t (a) TO STDOUT (FORMAT csv, DELIMITER '|')") == '|');
  // Regression: the UESCAPE character changes the identifier, so it is no maskable literal.
  CHECK(analyzer.analyze("SELECT * FROM U&\"d!0061ta\" UESCAPE '!'")->statements[0].reads ==
        testing::Names{"data"});
  CHECK(analyzer.analyze("SELECT * FROM U&\"d!0061ta\" UESCAPE '#'")->statements[0].reads ==
        testing::Names{"d!0061ta"});
}

TEST_CASE("shape key masks plain literals and keeps everything else", "[sql][cache]") {
  std::string key;
  std::vector<sql::LiteralSpan> spans;
  REQUIRE(
      sql::shapeKey("SELECT  a1, $1 FROM t -- c\nWHERE x = 'v' AND y = 10 /* d */", &key, &spans));
  CHECK(key == "SELECT a1, $1 FROM t\nWHERE x = \x01 AND y = \x02");
  CHECK(spans.size() == 2);
  REQUIRE(sql::shapeKey("SELECT E'a\\'b', $$x$$, B'01', 'c\\d', 1e5, 1.5", &key, &spans));
  CHECK(key == "SELECT E'a\\'b', $$x$$, B'01', 'c\\d', 1e5, \x04");
  // Regression: a line break joins string literals; such text is not keyed by shape.
  CHECK_FALSE(sql::shapeKey("SELECT 'a'\n'b'", &key, &spans));
  CHECK_FALSE(sql::shapeKey("SELECT 'unterminated", &key, &spans));
  CHECK_FALSE(sql::shapeKey("SELECT /* unterminated", &key, &spans));
  CHECK_FALSE(sql::shapeKey(std::string("SELECT \x01", 8), &key, &spans));
  // Regression: FETCH 5 parses, FETCH 99999999999 (a float token) does not.
  REQUIRE(sql::shapeKey("FETCH 5 FROM c", &key, &spans));
  std::string big_key;
  REQUIRE(sql::shapeKey("FETCH 99999999999 FROM c", &big_key, &spans));
  CHECK(key != big_key);
  REQUIRE(sql::shapeKey("FETCH 2147483647 FROM c", &big_key, &spans));
  CHECK(key == big_key);
  // Regression: a string that is not UTF-8 makes the parse tree unreadable.
  CHECK_FALSE(sql::shapeKey("SELECT '\xff'", &key, &spans));
  REQUIRE(sql::shapeKey("SELECT a$b$ FROM t WHERE c = 'x'", &key, &spans));
  CHECK(key == "SELECT a$b$ FROM t WHERE c = \x01");
}

TEST_CASE("scrubbing hides every literal form", "[sql][cache]") {
  CHECK(sql::scrubLiterals("SELECT 'a', E'b', $q$c$q$, 12, 1.5e3, x1, $1 /* c */ -- d") ==
        "SELECT ?, ?, ?, ?, ?, x1, $1");
  CHECK(sql::scrubLiterals("COPY t TO PROGRAM 'cat'") == "COPY t TO PROGRAM ?");
  CHECK(sql::scrubLiterals("SELECT 'unterminated") == "SELECT ?");
}

TEST_CASE("a small cache evicts and stays correct", "[sql][cache]") {
  SqlAnalyzer analyzer(4);
  for (int i = 0; i < 50; ++i) {
    const std::string sql = "SELECT c" + std::to_string(i % 9) + " FROM t" + std::to_string(i % 7) +
                            " WHERE id = " + std::to_string(i);
    INFO(sql);
    QueryFactsPtr cached = analyzer.analyze(sql);
    CHECK(sameFacts(*cached, *SqlAnalyzer::analyzeUncached(sql)));
  }
}

TEST_CASE("NUL inside a comment does not share the comment-free shape", "[sql][cache]") {
  // Regression found by sql_fuzz: comments are dropped from keys, but a NUL inside one still
  // makes the text unparseable.
  SqlAnalyzer analyzer;
  REQUIRE(analyzer.analyze("SELECT 1; -- c\nDELETE FROM t")->parsed);
  const std::string with_nul("SELECT 1; -- c\0\nDELETE FROM t", 29);
  CHECK_FALSE(analyzer.analyze(with_nul)->parsed);
}

TEST_CASE("caching disabled still analyses", "[sql][cache]") {
  SqlAnalyzer analyzer(0);
  QueryFactsPtr a = analyzer.analyze("SELECT * FROM t WHERE id = 1");
  QueryFactsPtr b = analyzer.analyze("SELECT * FROM t WHERE id = 1");
  CHECK(a.get() != b.get());
  CHECK(sameFacts(*a, *b));
}

TEST_CASE("analyzers are usable from many threads", "[sql][cache]") {
  SqlAnalyzer analyzer(128);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const char* sql = kCorpus[(i + t) % std::size(kCorpus)];
        if (!sameFacts(*analyzer.analyze(sql), *SqlAnalyzer::analyzeUncached(sql))) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == std::vector<int>(4, 0));
}

}  // namespace
}  // namespace tollgate::policy
