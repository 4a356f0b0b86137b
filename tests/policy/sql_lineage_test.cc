// Result-column lineage: which result columns may carry a column (cvv) whatever it is renamed to.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/analyzer.h"
#include "policy/sql/lineage.h"
#include "tests/policy/sql_support.h"

namespace tollgate::policy {
namespace {

struct Row {
  const char* sql;
  size_t index;      // result column asked about
  size_t count;      // result columns the server describes
  const char* name;  // the server's name for that column
  bool carries_cvv;  // cvv is among the names its data may come from
  bool whole_row;    // it may carry a whole row / unknown column
};

const Row kRows[] = {
    // Renames and expressions.
    {"SELECT cvv AS c FROM cards", 0, 1, "c", true, false},
    {"SELECT id, cvv AS c FROM cards", 0, 2, "id", false, false},
    {"SELECT id, cvv AS c FROM cards", 1, 2, "c", true, false},
    {"SELECT 'x' || cvv FROM cards", 0, 1, "?column?", true, false},
    {"SELECT upper(cvv) AS u, holder FROM cards", 1, 2, "holder", false, false},
    {"SELECT \"CVV\" AS c FROM cards", 0, 1, "c", true, false},  // rules ignore case
    {"SELECT CVV AS c FROM cards", 0, 1, "c", true, false},      // unquoted folds
    {"SELECT string_agg(cvv, ',') AS s FROM cards", 0, 1, "s", true, false},
    {"SELECT CASE WHEN cvv = '1' THEN 'a' END AS t FROM cards", 0, 1, "t", true, false},
    // Fields of composite values read by name (red-team round 8).
    {"SELECT (card).cvv AS x FROM wallet", 0, 1, "x", true, false},
    {"SELECT ((h).card).cvv AS y FROM wallet", 0, 1, "y", true, false},
    {"SELECT (cards[1]).cvv AS z FROM wallet", 0, 1, "z", true, false},
    {"SELECT (getcard()).cvv AS q", 0, 1, "q", true, false},
    {"SELECT x FROM wallet, LATERAL (SELECT (card).cvv) s(x)", 0, 1, "x", true, false},
    {"SELECT (card).holder AS h FROM wallet", 0, 1, "h", false, false},
    {"SELECT cvv(getcard()) AS x", 0, 1, "x", true, false},  // functional notation
    {"SELECT upper(cvv(card)) AS x FROM wallet", 0, 1, "x", true, false},
    {"SELECT pg_catalog.cvv(card) AS x FROM wallet", 0, 1, "x", false, false},  // qualified
    // Sub-selects, CTEs, set operations.
    {"WITH q AS (SELECT cvv AS z FROM cards) SELECT z FROM q", 0, 1, "z", true, false},
    {"WITH q(a) AS (SELECT cvv FROM cards) SELECT a FROM q", 0, 1, "a", true, false},
    {"WITH a AS (SELECT cvv AS x FROM cards), b AS (SELECT x AS y FROM a) SELECT y FROM b", 0, 1,
     "y", true, false},
    {"SELECT * FROM (SELECT cvv AS k, id FROM cards) s", 0, 2, "k", true, false},
    {"SELECT * FROM (SELECT cvv AS k, id FROM cards) s", 1, 2, "id", false, false},
    {"SELECT k FROM (SELECT cvv FROM cards) s(k)", 0, 1, "k", true, false},
    {"SELECT (SELECT cvv FROM cards LIMIT 1) AS k", 0, 1, "k", true, false},
    {"SELECT ARRAY(SELECT cvv FROM cards) AS k", 0, 1, "k", true, false},
    {"SELECT (SELECT holder FROM cards WHERE cvv = '1') AS h", 0, 1, "h", false, false},
    {"SELECT id FROM cards WHERE cvv = '605'", 0, 1, "id", false, false},
    {"SELECT id, holder FROM cards UNION ALL SELECT id, cvv FROM cards", 1, 2, "holder", true,
     false},
    {"SELECT u FROM cards, unnest(array[cvv]) u", 0, 1, "u", true, false},
    {"SELECT i FROM generate_series(1, 9) i", 0, 1, "i", false, false},
    // Whole rows and renames without a known source.
    {"SELECT k FROM cards c(a, b, k)", 0, 1, "k", false, true},
    {"SELECT c FROM cards c", 0, 1, "c", false, true},
    {"SELECT to_jsonb(c) FROM cards c", 0, 1, "to_jsonb", false, true},
    {"SELECT row(c.*) FROM cards c", 0, 1, "row", false, true},
    {"SELECT to_jsonb(s) FROM (SELECT cvv AS k FROM cards) s", 0, 1, "to_jsonb", true, true},
    // Planner statistics hold sample values of any table's columns (cvv's among them).
    {"SELECT attname, histogram_bounds FROM pg_stats", 1, 2, "histogram_bounds", false, true},
    {"SELECT classid, objid FROM pg_locks", 1, 2, "objid", false, true},
    {"SELECT most_common_vals::text AS v FROM pg_catalog.pg_stats", 0, 1, "v", false, true},
    {"SELECT * FROM pg_stats", 9, 14, "most_common_vals", false, true},
    {"SELECT * FROM pg_stats", 3, 14, "null_frac", false, false},
    {"SELECT stavalues1 FROM pg_statistic", 0, 1, "stavalues1", false, true},
    // Stars: columns after the last one keep their position from the end.
    {"SELECT id, *, cvv AS last FROM cards", 6, 7, "last", true, false},
    {"SELECT id, *, cvv AS last FROM cards", 0, 7, "id", false, false},
    {"SELECT id, *, cvv AS last FROM cards", 3, 7, "holder", false, false},
    {"SELECT t.*, cvv AS c FROM cards t", 5, 6, "c", true, false},
    // Writes with RETURNING.
    {"UPDATE cards SET holder = cvv WHERE id = 1 RETURNING holder", 0, 1, "holder", true, false},
    {"DELETE FROM cards WHERE id = 1 RETURNING cvv AS gone", 0, 1, "gone", true, false},
    {"INSERT INTO t(a) SELECT cvv FROM cards RETURNING a AS b", 0, 1, "b", true, false},
    {"VALUES (1, 2)", 1, 2, "column2", false, false},
    // x.* in a VALUES row expands: which item is in which column is not known.
    {"SELECT b FROM cards c, LATERAL (VALUES (c.*, 'x'), (c.*, 'y')) v(a, b)", 0, 1, "b", false,
     true},
    {"SELECT b FROM (VALUES ((SELECT c FROM cards c LIMIT 1).*, 'x'), "
     "((SELECT c FROM cards c LIMIT 1).*, 'y')) v(a, b)",
     0, 1, "b", false, true},
    // The server's count does not fit the target list: every column gets every source.
    {"SELECT id, cvv AS c FROM cards", 0, 3, "id", true, false},
};

using testing::contains;

TEST_CASE("result columns carry the names of the columns they are made of") {
  for (const Row& row : kRows) {
    INFO(row.sql << " column " << row.index);
    auto facts = SqlAnalyzer::analyzeUncached(row.sql);
    REQUIRE(facts->parsed);
    REQUIRE(facts->statements.size() == 1);
    const OutputLineage& l = facts->statements[0].lineage;
    CHECK(l.known);
    bool whole_row = false;
    auto names = l.namesFor(row.index, row.count, row.name, &whole_row);
    CHECK(contains(names, row.name));
    CHECK(contains(names, "cvv") == row.carries_cvv);
    CHECK(whole_row == row.whole_row);
  }
}

// Regression: each of these returned the cvv under a rule for cvv, by a name the rule did not
// know or as a JSON value without its field name.
TEST_CASE("functions in FROM and reshaped JSON rows carry what their arguments do") {
  struct Reshaped {
    const char* sql;
    size_t index, count;
    const char* name;
    bool carries_cvv, whole_row, reshaped;
  };
  const Reshaped kReshaped[] = {
      // Extracting from a row's JSON loses the field name: masked whole.
      {"SELECT to_jsonb(c)->'cvv' FROM cards c", 0, 1, "?column?", false, true, true},
      {"SELECT jsonb_path_query_array(to_jsonb(c), '$.cvv') FROM cards c", 0, 1, "j", false, true,
       true},
      {"SELECT k FROM (SELECT to_jsonb(c)->'cvv' AS k FROM cards c) s", 0, 1, "k", false, true,
       true},
      // Conversions of a whole row keep its field names: matched one by one.
      {"SELECT to_jsonb(c) FROM cards c", 0, 1, "to_jsonb", false, true, false},
      {"SELECT json_agg(c ORDER BY c.id)::jsonb FROM cards c", 0, 1, "json_agg", false, true,
       false},
      {"SELECT jsonb_build_array(row_to_json(c)) FROM cards c", 0, 1, "a", false, true, false},
      {"SELECT to_jsonb(c) - 'pan' #- '{note}' || '{}' FROM cards c", 0, 1, "?column?", false, true,
       false},
      {"SELECT (to_jsonb(c) - 'pan')->'cvv' FROM cards c", 0, 1, "?column?", false, true, true},
      // Functions in FROM: their columns carry their arguments, under any name.
      {"SELECT value FROM cards c, jsonb_each_text(to_jsonb(c))", 0, 1, "value", false, true, true},
      {"SELECT e.value FROM cards c, jsonb_each_text(to_jsonb(c)) e", 0, 1, "value", false, true,
       true},
      {"SELECT value FROM cards c, jsonb_each_text(to_jsonb(c)) AS e(k)", 0, 1, "value", false,
       true, true},
      {"SELECT * FROM cards c, jsonb_each_text(to_jsonb(c))", 9, 10, "value", false, true, true},
      {"SELECT unnest FROM cards, unnest(array[cvv])", 0, 1, "unnest", true, false, false},
      {"SELECT x FROM cards, regexp_split_to_table(cvv, ',') x", 0, 1, "x", true, false, false},
      {"SELECT x FROM cards c, XMLTABLE('/r' PASSING xmlelement(name r, cvv) "
       "COLUMNS x text PATH '.')",
       0, 1, "x", true, false, false},
      // Sub-select columns the server names: VALUES items, unaliased expressions, (expr).*.
      {"SELECT column1 FROM cards, LATERAL (VALUES (cvv)) v", 0, 1, "column1", true, false, false},
      {"SELECT v.column1 FROM cards, LATERAL (VALUES (cvv)) v", 0, 1, "column1", true, false,
       false},
      {"SELECT * FROM (VALUES ((SELECT cvv FROM cards LIMIT 1))) v", 0, 1, "column1", true, false,
       false},
      {"SELECT f1 FROM (SELECT (ROW(cvv)).* FROM cards) s", 0, 1, "f1", true, false, false},
      {"SELECT (ROW(cvv)).* FROM cards", 0, 1, "f1", true, false, false},
      {"WITH q AS (SELECT upper(cvv) FROM cards) SELECT upper FROM q", 0, 1, "upper", true, false,
       false},
      {"WITH q(u) AS (SELECT upper(cvv) FROM cards) SELECT id FROM q", 0, 1, "id", false, false,
       false},
      {"SELECT id FROM (SELECT id, holder FROM cards) s", 0, 1, "id", false, false, false},
      {"SELECT (c).* FROM cards c", 0, 7, "id", false, false, false},
      // Functions that read rows themselves: their result may hold any column.
      {"SELECT cursor_to_xml('c', 10, true, false, '')", 0, 1, "cursor_to_xml", false, true, true},
      {"SELECT x FROM (SELECT table_to_xml('cards', true, false, '') AS x) s", 0, 1, "x", false,
       true, true},
      // (r).* of a composite column, columns between two stars, JOIN aliases, SEARCH/CYCLE.
      {"SELECT (r).* FROM (SELECT row(cvv) r FROM cards) s", 0, 1, "f1", true, false, false},
      {"WITH w AS (SELECT row(cvv) r FROM cards) SELECT (r).* FROM w", 0, 1, "f1", true, false,
       false},
      {"SELECT a.*, lower(cvv), b.* FROM (SELECT 1 AS p) a, (SELECT 2 AS q) b, cards", 1, 3,
       "lower", true, false, false},
      {"SELECT j.f FROM (cards JOIN (SELECT 1 AS z) z ON true) AS j(a, b, c, d, e, f)", 0, 1, "f",
       false, true, true},
      {"WITH RECURSIVE w(x) AS (SELECT cvv FROM cards) SEARCH DEPTH FIRST BY x SET ord "
       "SELECT ord FROM w",
       0, 1, "ord", true, false, false},
      {"WITH RECURSIVE w(x) AS (SELECT cvv FROM cards) CYCLE x SET is_cycle USING path "
       "SELECT path FROM w",
       0, 1, "path", true, false, false},
      {"SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, cvv::tsquery FROM cards')", 0, 1,
       "ts_rewrite", false, true, true},
      // ... and nothing when their arguments hold no column.
      {"SELECT id, i FROM cards, generate_series(1, 3) i", 0, 2, "id", false, false, false},
      {"SELECT c.id, x FROM cards c, unnest(c.tags) x", 0, 2, "id", false, false, false},
  };
  for (const Reshaped& row : kReshaped) {
    INFO(row.sql << " column " << row.index);
    auto facts = SqlAnalyzer::analyzeUncached(row.sql);
    REQUIRE(facts->parsed);
    const OutputLineage& l = facts->statements[0].lineage;
    bool whole_row = false, reshaped = false;
    auto names = l.namesFor(row.index, row.count, row.name, &whole_row, &reshaped);
    CHECK(contains(names, "cvv") == row.carries_cvv);
    CHECK(whole_row == row.whole_row);
    CHECK(reshaped == row.reshaped);
  }
}

TEST_CASE("PREPARE and DECLARE name their lineage; EXECUTE and FETCH use it") {
  auto facts = SqlAnalyzer::analyzeUncached(
      "PREPARE p AS SELECT cvv AS y FROM cards; EXECUTE p; "
      "DECLARE cur CURSOR FOR SELECT cvv AS q FROM cards; FETCH 10 FROM cur; MOVE 1 IN cur");
  REQUIRE(facts->statements.size() == 5);
  const auto& prepare = facts->statements[0].lineage;
  CHECK(prepare.defines == "p");
  bool whole_row = false;
  CHECK(contains(prepare.namesFor(0, 1, "y", &whole_row), "cvv"));
  CHECK(facts->statements[1].lineage.uses == "p");
  CHECK(facts->statements[2].lineage.defines == "cur");
  CHECK(contains(facts->statements[2].lineage.namesFor(0, 1, "q", &whole_row), "cvv"));
  CHECK(facts->statements[3].lineage.uses == "cur");
  CHECK(facts->statements[4].lineage.uses == "cur");
  CHECK_FALSE(whole_row);
}

TEST_CASE("EXPLAIN EXECUTE plans a prepared statement; with ANALYZE it runs it too") {
  auto facts = SqlAnalyzer::analyzeUncached(
      "EXPLAIN (VERBOSE) EXECUTE p(f(cvv)); EXPLAIN ANALYZE EXECUTE q; EXPLAIN SELECT 1; "
      "EXPLAIN (ANALYZE) SELECT 1; EXPLAIN (ANALYZE false) EXECUTE r; "
      "EXPLAIN (ANALYZE) CREATE TABLE t AS EXECUTE s");
  REQUIRE(facts->statements.size() == 6);
  const auto& plans = facts->statements[0].lineage;
  CHECK(plans.explains == "p");
  CHECK(plans.uses.empty());
  CHECK(contains(plans.arguments.sources, "cvv"));
  CHECK(facts->statements[1].lineage.explains == "q");
  CHECK(facts->statements[1].lineage.uses == "q");
  for (size_t i : {2u, 3u}) {
    CHECK(facts->statements[i].lineage.explains.empty());
    CHECK(facts->statements[i].lineage.uses.empty());
  }
  CHECK(facts->statements[4].lineage.explains == "r");  // plans it only
  CHECK(facts->statements[4].lineage.uses.empty());
  CHECK(facts->statements[5].lineage.explains == "s");
  CHECK(facts->statements[5].lineage.uses == "s");
}

TEST_CASE("DEALLOCATE, CLOSE and DISCARD ALL name what they drop; WITH HOLD is noted") {
  struct Release {
    const char* sql;
    const char* type;
    const char* releases;
    bool releases_all;
  };
  const Release kReleases[] = {
      {"DEALLOCATE p", "deallocate", "p", false},
      {"DEALLOCATE PREPARE p", "deallocate", "p", false},
      {"DEALLOCATE ALL", "deallocate", "", true},
      {"CLOSE cur", "close", "cur", false},
      {"CLOSE ALL", "close", "", true},
      {"DISCARD ALL", "discard", "", true},
      {"DISCARD PLANS", "discard", "", false},
  };
  for (const auto& row : kReleases) {
    INFO(row.sql);
    auto facts = SqlAnalyzer::analyzeUncached(row.sql);
    REQUIRE(facts->statements.size() == 1);
    const auto& st = facts->statements[0];
    CHECK(st.type == row.type);
    CHECK(st.lineage.releases == row.releases);
    CHECK(st.lineage.releases_all == row.releases_all);
  }
  auto held = SqlAnalyzer::analyzeUncached("DECLARE c CURSOR WITH HOLD FOR SELECT 1");
  CHECK(held->statements.at(0).lineage.holds);
  auto plain = SqlAnalyzer::analyzeUncached("DECLARE c CURSOR FOR SELECT 1");
  CHECK_FALSE(plain->statements.at(0).lineage.holds);
}

TEST_CASE("COPY TO STDOUT has the lineage of its column list or query") {
  struct CopyRow {
    const char* sql;
    size_t index, count;
    bool carries_cvv, whole_row;
  };
  const CopyRow rows[] = {
      {"COPY public.cards (id, cvv) TO stdout", 1, 2, true, false},
      {"COPY public.cards (id, cvv) TO stdout", 0, 2, false, false},
      {"COPY (SELECT cvv AS c, id FROM cards) TO STDOUT (FORMAT csv)", 0, 2, true, false},
      {"COPY (SELECT id, holder AS h FROM cards) TO STDOUT", 1, 2, false, false},
      // COPY has no column names: a column a `*` expanded to may be any column.
      {"COPY (SELECT id, * FROM cards) TO STDOUT", 2, 4, false, true},
      {"COPY (SELECT id, * FROM cards) TO STDOUT", 0, 4, false, false},
      {"COPY (SELECT to_jsonb(c) FROM cards c) TO STDOUT", 0, 1, false, true},
  };
  for (const CopyRow& row : rows) {
    INFO(row.sql << " column " << row.index);
    auto facts = SqlAnalyzer::analyzeUncached(row.sql);
    REQUIRE(facts->statements.size() == 1);
    const OutputLineage& l = facts->statements[0].lineage;
    CHECK(l.known);
    bool whole_row = false;
    auto names = l.namesFor(row.index, row.count, "", &whole_row);
    CHECK(contains(names, "cvv") == row.carries_cvv);
    CHECK(whole_row == row.whole_row);
  }
  for (const char* sql : {"COPY cards TO STDOUT", "COPY cards (id, cvv) FROM STDIN"}) {
    INFO(sql);
    auto facts = SqlAnalyzer::analyzeUncached(sql);
    REQUIRE(facts->statements.size() == 1);
    CHECK_FALSE(facts->statements[0].lineage.known);
  }
}

TEST_CASE("statements without a followed result have no lineage") {
  for (const char* sql : {"EXPLAIN SELECT cvv FROM cards", "SHOW work_mem", "BEGIN",
                          "INSERT INTO t SELECT cvv FROM cards", "CREATE TABLE x AS SELECT 1"}) {
    INFO(sql);
    auto facts = SqlAnalyzer::analyzeUncached(sql);
    REQUIRE(facts->statements.size() == 1);
    CHECK_FALSE(facts->statements[0].lineage.known);
  }
}

TEST_CASE("lineage is shared by statements of one shape and never holds literal values") {
  SqlAnalyzer analyzer;
  auto a = analyzer.analyze("SELECT cvv AS c FROM cards WHERE id = 1");
  auto b = analyzer.analyze("SELECT cvv AS c FROM cards WHERE id = 2");
  bool whole_row = false;
  CHECK(contains(b->statements[0].lineage.namesFor(0, 1, "c", &whole_row), "cvv"));
  auto lit = analyzer.analyze("SELECT '4111111111111111' AS c");
  auto names = lit->statements[0].lineage.namesFor(0, 1, "c", &whole_row);
  for (const auto& n : names) CHECK(n.find("4111") == std::string::npos);
}

TEST_CASE("a listed function name is read every way its dots allow") {
  std::vector<std::string> readings;
  CHECK_FALSE(anyReading("tg.a.b", [&](std::string_view r) {
    readings.emplace_back(r);
    return false;
  }));
  CHECK(readings == std::vector<std::string>{"tg.a.b", "a.b", "b"});
  CHECK(anyReading("tg.a.b", [](std::string_view r) { return r == "a.b"; }));

  // A call names the function by the last name the server reads: "code.of"(1) is code.of().
  std::vector<std::string> names;
  addCallNamesOfListed(&names, "code.of");
  addCallNamesOfListed(&names, "of");
  CHECK(names == std::vector<std::string>{"code.of()", "of()"});
}

}  // namespace
}  // namespace tollgate::policy
