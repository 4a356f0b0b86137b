// What a database function returns, read from its definition as pg_get_functiondef prints it,
// and the call names that stand for it in a statement's lineage.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/analyzer.h"
#include "policy/sql/function_lineage.h"
#include "tests/policy/sql_support.h"

namespace tollgate::policy {
namespace {

using testing::contains;
using testing::def;

struct Row {
  std::string definition;
  bool carries_cvv;
  bool whole_row;
};

TEST_CASE("a function's result carries what its body returns, under any name") {
  const Row kRows[] = {
      // SQL bodies: the result columns of its statements.
      {def("get_codes(OUT code text)\n RETURNS SETOF text", "sql", " SELECT cvv FROM cards "), true,
       false},
      {def("get_codes()\n RETURNS TABLE(code text, id integer)", "sql",
           " SELECT upper(cvv), id FROM cards "),
       true, false},
      {def("get_cvv(i integer)\n RETURNS text", "sql",
           " SELECT k FROM (SELECT cvv AS k, id FROM cards) s WHERE id = i "),
       true, false},
      {def("holders()\n RETURNS SETOF text", "sql", " SELECT holder FROM cards WHERE cvv = '1' "),
       false, false},
      {def("two()\n RETURNS text", "sql", " SELECT 1; SELECT cvv FROM cards LIMIT 1 "), true,
       false},
      // SELECT * under OUT parameters or a scalar result may be any column.
      {def("star(OUT a text, OUT b text)\n RETURNS SETOF record", "sql", " SELECT * FROM cards "),
       false, true},
      // BEGIN ATOMIC bodies come parsed.
      {"CREATE OR REPLACE FUNCTION public.atomic(OUT code text)\n RETURNS text\n LANGUAGE sql\n"
       "BEGIN ATOMIC\n SELECT cards.cvv\n    FROM cards\n   LIMIT 1;\nEND\n",
       true, false},
      // PL/pgSQL: every query's result and every expression.
      {def("q()\n RETURNS TABLE(code text)", "plpgsql",
           " BEGIN RETURN QUERY SELECT c.cvv FROM cards c; END "),
       true, false},
      {def("n()\n RETURNS TABLE(code text)", "plpgsql",
           " DECLARE v text; BEGIN SELECT cvv INTO v FROM cards LIMIT 1; code := upper(v); "
           "RETURN NEXT; END "),
       true, false},
      {def("o(OUT a text, OUT b text)\n RETURNS record", "plpgsql",
           " BEGIN a := 'x'; SELECT cvv INTO b FROM cards; END "),
       true, false},
      {def("r(i integer)\n RETURNS text", "plpgsql",
           " BEGIN RETURN (SELECT cvv FROM cards WHERE id = i); END "),
       true, false},
      {def("h()\n RETURNS text", "plpgsql",
           " BEGIN IF EXISTS (SELECT 1 FROM cards WHERE cvv = '1') THEN RETURN 'yes'; END IF; "
           "RETURN 'no'; END "),
       false, false},
      // SQL-standard bodies: RETURN expr.
      {"CREATE OR REPLACE FUNCTION public.ret(i integer)\n RETURNS text\n LANGUAGE sql\n"
       "RETURN (SELECT cards.cvv FROM cards WHERE (cards.id = ret.i))\n",
       true, false},
      // What cannot be seen: dynamic SQL, other languages, a body that does not parse.
      {def("d()\n RETURNS SETOF text", "plpgsql",
           " BEGIN RETURN QUERY EXECUTE 'SELECT ' || 'cvv FROM cards'; END "),
       false, true},
      {def("p()\n RETURNS text", "plpython3u", " return plpy.execute('SELECT cvv')[0] "), false,
       true},
      {"CREATE OR REPLACE FUNCTION public.c(integer)\n RETURNS text\n LANGUAGE c\n"
       "AS '$libdir/lib', $function$c_fn$function$\n",
       false, true},
      {def("bad()\n RETURNS text", "sql", " SELECT FROM WHERE "), false, true},
      // A result type whose name ends in "void" is no void: its last statement must be read.
      {def("w()\n RETURNS myvoid", "sql", " DELETE FROM cards "), false, true},
      {def("v()\n RETURNS void", "sql", " DELETE FROM cards "), false, false},
      {"not a definition", false, true},
  };
  for (const Row& row : kRows) {
    INFO(row.definition);
    FunctionLineage l = functionLineage(row.definition, nullptr);
    CHECK(contains(l.result.sources, "cvv") == row.carries_cvv);
    CHECK(l.result.whole_row == row.whole_row);
  }
}

TEST_CASE("a function's name and schema are read, procedures too") {
  FunctionLineage l =
      functionLineage(def("get_codes(i integer, INOUT x text, OUT code text)\n RETURNS record",
                          "sql", " SELECT x, cvv FROM cards WHERE id = i "),
                      nullptr);
  CHECK(l.parsed);
  CHECK(l.schema == "public");
  CHECK(l.name == "get_codes");
  l = functionLineage(def("t()\n RETURNS TABLE(a text, \"B\" text)", "sql", " SELECT 1, 2 "),
                      nullptr);
  CHECK(l.result.sources.empty());
  // A procedure: CALL returns its OUT parameters.
  l = functionLineage(
      "CREATE OR REPLACE PROCEDURE public.pr(OUT code text)\n LANGUAGE plpgsql\n"
      "AS $procedure$ BEGIN SELECT cvv INTO code FROM cards LIMIT 1; END $procedure$\n",
      nullptr);
  CHECK(l.name == "pr");
  CHECK(contains(l.result.sources, "cvv"));
  CHECK_FALSE(l.result.whole_row);
}

TEST_CASE(
    "a row type result masks its fields by name; a column under another field's name "
    "carries its own") {
  const std::vector<std::string> fields = {"holder", "pan", "cvv"};
  // The columns of the fields' own names: the fields' names mask them.
  FunctionLineage l = functionLineage(
      def("all_cards()\n RETURNS SETOF cards", "sql", " SELECT * FROM cards "), &fields);
  CHECK(l.result.sources.empty());
  CHECK_FALSE(l.result.whole_row);
  l = functionLineage(
      def("one()\n RETURNS cards", "sql", " SELECT holder, pan, cvv FROM cards LIMIT 1 "), &fields);
  CHECK(l.result.sources.empty());
  // Qualified columns (as pg_get_functiondef prints BEGIN ATOMIC bodies) are the columns too.
  l = functionLineage(
      def("q()\n RETURNS cards", "sql", " SELECT c.holder, c.pan, c.cvv FROM cards c LIMIT 1 "),
      &fields);
  CHECK(l.result.sources.empty());
  CHECK_FALSE(l.result.whole_row);
  // `*` over a sub-select or a join may put a column at another field's position.
  l = functionLineage(def("star_sub()\n RETURNS SETOF cards", "sql",
                          " SELECT * FROM (SELECT cvv, pan, holder FROM cards) s "),
                      &fields);
  CHECK(l.result.whole_row);
  l = functionLineage(
      def("star_join()\n RETURNS SETOF cards", "sql", " SELECT * FROM a JOIN b USING (id) "),
      &fields);
  CHECK(l.result.whole_row);
  // cvv returned in the holder field.
  l = functionLineage(
      def("swap()\n RETURNS SETOF cards", "sql", " SELECT cvv, pan, holder FROM cards "), &fields);
  CHECK(contains(l.result.sources, "cvv"));
  // A rename inside the statement puts cvv under the holder field's name.
  l = functionLineage(def("sub()\n RETURNS SETOF cards", "sql",
                          " SELECT holder, pan, cvv FROM (SELECT cvv AS holder, pan, holder AS "
                          "cvv FROM cards) s "),
                      &fields);
  CHECK(contains(l.result.sources, "cvv"));
  // PL/pgSQL variables carry values from query to query: nothing is taken as intact.
  l = functionLineage(def("vars()\n RETURNS SETOF cards", "plpgsql",
                          " DECLARE a text; b text; c text; BEGIN SELECT holder, pan, cvv INTO a, "
                          "b, c FROM cards LIMIT 1; RETURN QUERY SELECT c, b, a; END "),
                      &fields);
  CHECK(contains(l.result.sources, "cvv"));
  // Without the fields, SELECT * may be any column.
  l = functionLineage(def("all_cards()\n RETURNS SETOF cards", "sql", " SELECT * FROM cards "),
                      nullptr);
  CHECK(l.result.whole_row);
}

TEST_CASE("what a function's body reads and names is kept, for errors and views") {
  FunctionLineage l =
      functionLineage(def("chk()\n RETURNS bigint", "sql",
                          " SELECT count(*) FROM cards WHERE (cvv || 'x')::integer > 0 "),
                      nullptr);
  CHECK(contains(l.columns, "cvv"));
  CHECK(contains(l.reads, "cards"));
  CHECK_FALSE(l.row_reference);
  CHECK_FALSE(contains(l.result.sources, "cvv"));
  l = functionLineage(def("v()\n RETURNS SETOF text", "sql", " SELECT code FROM v_codes "),
                      nullptr);
  CHECK(contains(l.reads, "v_codes"));
  CHECK(contains(l.result.sources, "code"));
  l = functionLineage(def("p()\n RETURNS text", "plpython3u", " return 1 "), nullptr);
  CHECK(l.row_reference);
  // A row parameter (called as c.f) carries the whole row in, whatever the body takes from it.
  l = functionLineage(def("of(cards)\n RETURNS text", "sql", " SELECT to_jsonb($1)->>'cvv' "),
                      nullptr);
  CHECK(l.result.whole_row);
  l = functionLineage(
      def("of(i integer, t text, n numeric)\n RETURNS text", "sql", " SELECT t || i || n "),
      nullptr);
  CHECK_FALSE(l.result.whole_row);
}

TEST_CASE("a function call's result appears in lineage under its call name") {
  auto facts = SqlAnalyzer::analyzeUncached(
      "SELECT get_cvv(id) AS x, public.other(1), upper(holder) AS h FROM cards");
  REQUIRE(facts->parsed);
  const OutputLineage& l = facts->statements[0].lineage;
  REQUIRE(l.head.size() == 3);
  CHECK(contains(l.head[0].sources, callName("get_cvv")));
  CHECK(contains(l.head[0].sources, "id"));
  CHECK(contains(l.head[1].sources, "other()"));
  CHECK(contains(l.head[2].sources, "upper()"));
  CHECK(contains(l.head[0].sources, callValueName("get_cvv")));
  CHECK(isCallName("get_cvv()"));
  CHECK(isCallName("get_cvv()*"));
  CHECK_FALSE(isCallName("()"));
  CHECK_FALSE(isCallName("cvv"));
  // Functions in FROM: what their columns carry.
  facts = SqlAnalyzer::analyzeUncached("SELECT code FROM get_codes()");
  bool whole_row = false;
  auto names = facts->statements[0].lineage.namesFor(0, 1, "code", &whole_row);
  CHECK(contains(names, "get_codes()"));
  CHECK_FALSE(contains(names, "get_codes()*"));  // a column of it, not its value
  // A function in FROM without an alias goes by its own name; attribute notation (c.code for
  // code(c)) may call a function.
  for (const char* sql : {"SELECT get_codes.code FROM get_codes()",
                          "SELECT get_codes FROM get_codes()", "SELECT c.get_codes FROM cards c"}) {
    INFO(sql);
    facts = SqlAnalyzer::analyzeUncached(sql);
    whole_row = false;
    CHECK(contains(facts->statements[0].lineage.namesFor(0, 1, "x", &whole_row), "get_codes()"));
  }
  // CALL's row: the procedure's OUT parameters, under their own names.
  facts = SqlAnalyzer::analyzeUncached("CALL pr(NULL, 1)");
  REQUIRE(facts->statements[0].lineage.known);
  CHECK(contains(facts->statements[0].lineage.namesFor(1, 2, "code", &whole_row), "pr()"));
  CHECK_FALSE(whole_row);
}

// masking.copies follows calls: what a body stores, and the functions it calls.
TEST_CASE("what a function's body stores and calls is kept, names followed in its statement") {
  FunctionLineage l =
      functionLineage(def("stash()\n RETURNS void", "sql",
                          " UPDATE notes n SET note = s.k FROM (SELECT id, cvv AS k FROM cards) s "
                          "WHERE s.id = n.id; SELECT audit_it() "),
                      nullptr);
  REQUIRE(l.parsed);
  REQUIRE(l.stored.size() == 1);
  CHECK(l.stored[0].first == "note");
  CHECK(contains(l.stored[0].second.sources, "cvv"));  // k followed to cvv
  CHECK(contains(l.called, "audit_it"));
  // Its writes, for the triggers they fire.
  REQUIRE(l.writes.size() == 1);
  CHECK(l.writes[0].writes == std::vector<std::string>{"notes"});
  CHECK(l.writes[0].type == "update");
  l = functionLineage(def("up()\n RETURNS void", "plpgsql",
                          " BEGIN INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET n = 2; "
                          "WITH d AS (DELETE FROM old RETURNING id) SELECT count(*) FROM d; END "),
                      nullptr);
  REQUIRE(l.writes.size() == 2);
  CHECK(l.writes[0].type == "insert");
  CHECK(l.writes[0].upserts);
  CHECK(l.writes[1].writes == std::vector<std::string>{"old"});
  CHECK(contains(l.writes[1].inner_types, "delete"));

  l = functionLineage(def("stash2()\n RETURNS void", "plpgsql",
                          " BEGIN INSERT INTO log (msg) SELECT cvv FROM cards; "
                          "PERFORM public.other_fn(1); END "),
                      nullptr);
  REQUIRE(l.parsed);
  REQUIRE(l.stored.size() == 1);
  CHECK(l.stored[0].first == "msg");
  CHECK(contains(l.stored[0].second.sources, "cvv"));
  CHECK(contains(l.called, "public.other_fn"));

  CHECK_FALSE(l.stores_arguments);

  // Bodies storing a parameter, by name or by number.
  for (const char* body :
       {" UPDATE notes SET note = m WHERE id = 1 ", " INSERT INTO log (msg) VALUES ($1) ",
        " BEGIN INSERT INTO log (msg) VALUES (upper(m)); END "}) {
    INFO(body);
    const bool plpgsql = std::string(body).find("BEGIN") != std::string::npos;
    l = functionLineage(def("log_note(m text)\n RETURNS void", plpgsql ? "plpgsql" : "sql", body),
                        nullptr);
    REQUIRE(l.parsed);
    CHECK(l.stores_arguments);
  }

  // A `*` over tables stored: which tables, for the session to name their columns.
  l = functionLineage(def("archive()\n RETURNS void", "plpgsql",
                          " BEGIN INSERT INTO archive SELECT * FROM orders; "
                          "INSERT INTO archive SELECT * FROM (SELECT * FROM orders) s; END "),
                      nullptr);
  REQUIRE(l.stored.size() == 2);
  CHECK(l.stored[0].second.whole_row);
  REQUIRE(l.star_tables.size() == 1);
  CHECK(l.star_tables[0].first == 0);
  CHECK(l.star_tables[0].second == std::vector<std::string>{"orders"});
  // `r.*` of a record (or a row parameter, or NEW) is no FROM item's: any column.
  for (const char* body : {" DECLARE r record; BEGIN SELECT * INTO r FROM cards LIMIT 1; "
                           "INSERT INTO archive SELECT r.* FROM orders LIMIT 1; END ",
                           " BEGIN INSERT INTO archive SELECT c.* FROM orders LIMIT 1; END "}) {
    INFO(body);
    l = functionLineage(def("archive(c cards)\n RETURNS void", "plpgsql", body), nullptr);
    REQUIRE_FALSE(l.stored.empty());
    CHECK(l.stored.back().second.whole_row);
    CHECK(l.star_tables.empty());
  }
  // In a trigger function, NEW.* and OLD.* are the written row ("new", "old": the session
  // names its table); beside a table's `*` too. In any other function, any column.
  l = functionLineage(def("hist()\n RETURNS trigger", "plpgsql",
                          " BEGIN INSERT INTO hist SELECT 'U', now(), OLD.*; "
                          "INSERT INTO hist SELECT o.*, new.* FROM orders o; RETURN NULL; END "),
                      nullptr);
  REQUIRE(l.stored.size() == 2);
  REQUIRE(l.star_tables.size() == 2);
  const std::string row(policy::kTriggerRowStar);
  CHECK(l.star_tables[0].second == std::vector<std::string>{row});
  CHECK(l.star_tables[1].second == std::vector<std::string>{"orders", row});
  // So in a VALUES row (the partition-routing trigger's INSERT INTO child VALUES (NEW.*)).
  l = functionLineage(def("hist()\n RETURNS trigger", "plpgsql",
                          " BEGIN INSERT INTO hist VALUES ('U', now(), OLD.*); "
                          "INSERT INTO child VALUES (NEW.*); "
                          "INSERT INTO hist (a, b) VALUES (NEW.*, NEW.note); RETURN NULL; END "),
                      nullptr);
  REQUIRE(l.stored.size() == 4);
  REQUIRE(l.star_tables.size() == 4);
  for (const auto& [index, tables] : l.star_tables) {
    CHECK(l.stored[index].second.whole_row);
    CHECK(tables == std::vector<std::string>{row});
  }
  CHECK(l.stored[2].first == "a");
  CHECK(l.stored[3].first == "b");
  // Which lands where is not known: each named column may hold any of them.
  for (size_t i : {2, 3}) {
    const auto& sources = l.stored[i].second.sources;
    CHECK(std::find(sources.begin(), sources.end(), "note") != sources.end());
  }
  // Not in two rows, nor for (NEW).*, nor outside a trigger function.
  for (const char* body :
       {" BEGIN INSERT INTO hist VALUES (NEW.*), (OLD.*); RETURN NULL; END ",
        " BEGIN INSERT INTO hist VALUES ((NEW).*); RETURN NULL; END ",
        " BEGIN INSERT INTO hist VALUES (1, NEW.*, 2, OLD.*); RETURN NULL; END "}) {
    INFO(body);
    l = functionLineage(def("hist()\n RETURNS trigger", "plpgsql", body), nullptr);
    REQUIRE(l.stored.size() == 1);
    CHECK(l.stored[0].second.whole_row);
    CHECK(l.star_tables.empty());
  }
  l = functionLineage(
      def("hist()\n RETURNS void", "plpgsql", " BEGIN INSERT INTO hist VALUES (NEW.*); END "),
      nullptr);
  REQUIRE(l.stored.size() == 1);
  CHECK(l.stored[0].second.whole_row);
  CHECK(l.star_tables.empty());
  // A table named new is a table; a variable named new hides NEW.
  l = functionLineage(def("hist()\n RETURNS trigger", "plpgsql",
                          " BEGIN INSERT INTO hist SELECT * FROM new; RETURN NULL; END "),
                      nullptr);
  REQUIRE(l.star_tables.size() == 1);
  CHECK(l.star_tables[0].second == std::vector<std::string>{"new"});
  l = functionLineage(def("hist()\n RETURNS trigger", "plpgsql",
                          " BEGIN DECLARE new cards; BEGIN SELECT * INTO new FROM cards LIMIT 1; "
                          "INSERT INTO hist SELECT new.*; END; RETURN NULL; END "),
                      nullptr);
  CHECK(l.star_tables.empty());
  for (const char* body :
       {" BEGIN INSERT INTO hist SELECT new.*; END ", " BEGIN INSERT INTO hist SELECT *; END ",
        " BEGIN INSERT INTO hist SELECT (new).*; END "}) {
    INFO(body);
    l = functionLineage(def("hist()\n RETURNS void", "plpgsql", body), nullptr);
    REQUIRE(l.stored.size() == 1);
    CHECK(l.stored[0].second.whole_row);
    CHECK(l.star_tables.empty());
  }

  // A table created from a `*` keeps the names of its FROM items' columns, which a view may
  // have given to a masked column: any column.
  for (const char* body : {" BEGIN CREATE TABLE snap AS SELECT * FROM v; END ",
                           " BEGIN CREATE TEMP TABLE snap AS SELECT v.* FROM v; END ",
                           " BEGIN CREATE VIEW w AS SELECT * FROM v; END "}) {
    INFO(body);
    l = functionLineage(def("snapshot()\n RETURNS void", "plpgsql", body), nullptr);
    REQUIRE(l.parsed);
    CHECK(l.may_change_tables);
    REQUIRE(l.stored.size() == 1);
    CHECK(l.stored[0].second.whole_row);
    CHECK(l.star_tables.empty());
  }
  l = functionLineage(
      def("snapshot()\n RETURNS void", "sql", " CREATE TABLE snap AS SELECT id FROM v "), nullptr);
  CHECK(l.stored.size() == 1);
  CHECK_FALSE(l.stored[0].second.whole_row);

  l = functionLineage(def("reader()\n RETURNS text", "sql", " SELECT cvv FROM cards "), nullptr);
  CHECK(l.stored.empty());
  CHECK_FALSE(l.stores_arguments);
}

TEST_CASE("a function whose body may create, alter or drop tables or types says so") {
  struct Case {
    const char* language;
    const char* body;
    bool may_change_tables;
    bool runs_ddl;  // seen in the body
  };
  const Case cases[] = {
      {"sql", " SELECT 1 ", false, false},
      // Calls: followed apart.
      {"sql", " UPDATE notes SET note = 'x'; SELECT audit_it() ", false, false},
      {"sql", " CREATE TEMP TABLE IF NOT EXISTS orders (id int) ", true, true},
      {"sql", " ALTER TYPE card_t ADD ATTRIBUTE cvv text ", true, true},
      {"sql", " CALL refresh() ", true, true},
      {"sql", " SELECT FROM WHERE ", true, false},  // does not parse
      {"plpgsql", " BEGIN PERFORM 1; INSERT INTO log VALUES (1); END ", false, false},
      {"plpgsql", " BEGIN CREATE TEMP TABLE orders (id int); END ", true, true},
      {"plpgsql", " BEGIN IF true THEN DROP TABLE orders; END IF; END ", true, true},
      {"plpgsql", " BEGIN EXECUTE 'SELECT 1'; END ", true, false},  // dynamic SQL
      {"plpgsql", " BEGIN CALL refresh(); END ", true, true},
      {"plpythonu", " return 1 ", true, false},
      {"c", "", true, false},
  };
  for (const Case& c : cases) {
    INFO(c.language << ":" << c.body);
    const FunctionLineage l =
        functionLineage(def("f()\n RETURNS void", c.language, c.body), nullptr);
    CHECK(l.may_change_tables == c.may_change_tables);
    CHECK(l.runs_ddl == c.runs_ddl);
  }
  // A row parameter makes the result any column, not the body opaque.
  CHECK_FALSE(functionLineage(def("g(c cards)\n RETURNS text", "sql", " SELECT 'x' "), nullptr)
                  .may_change_tables);
  CHECK(functionLineage("CREATE FUNCTION", nullptr).may_change_tables);
  // A SQL-standard body: RETURN expr, and BEGIN ATOMIC.
  CHECK_FALSE(functionLineage("CREATE FUNCTION public.r(i integer)\n RETURNS text\n LANGUAGE sql\n"
                              "RETURN (SELECT cards.cvv FROM cards WHERE (cards.id = r.i))\n",
                              nullptr)
                  .may_change_tables);
  CHECK_FALSE(functionLineage("CREATE FUNCTION public.a()\n RETURNS void\n LANGUAGE sql\n"
                              "BEGIN ATOMIC\n UPDATE notes SET note = 'x';\nEND\n",
                              nullptr)
                  .may_change_tables);
  // RETURN of a function the analyser counts as admin (SQL run elsewhere).
  CHECK(functionLineage("CREATE FUNCTION public.r()\n RETURNS text\n LANGUAGE sql\n"
                        "RETURN dblink_exec('x', 'ALTER TABLE t ADD c int')\n",
                        nullptr)
            .may_change_tables);
  // DDL nested deeper than the PL/pgSQL tree is followed: the body is not all seen.
  std::string nested = " BEGIN ";
  for (int i = 0; i < 150; ++i) nested += "IF true THEN ";
  nested += "CREATE TEMP TABLE t (id int); ";
  for (int i = 0; i < 150; ++i) nested += "END IF; ";
  nested += "END ";
  CHECK(functionLineage(def("n()\n RETURNS void", "plpgsql", nested), nullptr).may_change_tables);
}

TEST_CASE("the functions a parameter's default calls are the function's calls") {
  const FunctionLineage l = functionLineage(
      def("f(x integer DEFAULT mk(), y text DEFAULT upper(app.name_of(1)))\n RETURNS integer",
          "sql", " SELECT 1 "),
      nullptr);
  REQUIRE(l.parsed);
  CHECK(contains(l.called, "mk"));
  CHECK(contains(l.called, "app.name_of"));
  CHECK(contains(l.called, "upper"));
  CHECK_FALSE(l.may_change_tables);
}

}  // namespace
}  // namespace tollgate::policy
