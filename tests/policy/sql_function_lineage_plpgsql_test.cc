// What a PL/pgSQL function's body stores through its variables, and what a trigger function
// stores through NEW and OLD, read from definitions as pg_get_functiondef prints them.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/function_lineage.h"
#include "tests/policy/sql_support.h"

namespace tollgate::policy {
namespace {

using testing::contains;
using testing::def;

// What `l` stores into column `target`, each entry in order.
std::vector<const ColumnLineage*> storedInto(const FunctionLineage& l, const std::string& target) {
  std::vector<const ColumnLineage*> out;
  for (const auto& [t, value] : l.stored) {
    if (t == target) out.push_back(&value);
  }
  return out;
}

// Triggers: NEW and OLD are rows of the table written, and a BEFORE trigger's assignments to
// NEW's fields store into that row.
TEST_CASE("a trigger function's body reads NEW and OLD, and its assignments to NEW store") {
  const FunctionLineage l = functionLineage(
      def("audit()\n RETURNS trigger", "plpgsql",
          " DECLARE v text; BEGIN NEW.updated_at := now(); NEW.Note := NEW.cvv; "
          "NEW.\"Odd\" = upper(OLD.holder); "
          "INSERT INTO log (row_data) VALUES (to_jsonb(NEW)); v := NEW.cvv; RETURN NEW; END "),
      nullptr);
  REQUIRE(l.parsed);
  CHECK_FALSE(l.may_change_tables);
  REQUIRE_FALSE(storedInto(l, "updated_at").empty());
  CHECK(storedInto(l, "updated_at").front()->sources ==
        std::vector<std::string>{"now()", "now()*"});
  REQUIRE_FALSE(storedInto(l, "note").empty());
  CHECK(contains(storedInto(l, "note").front()->sources, "cvv"));
  REQUIRE_FALSE(storedInto(l, "Odd").empty());
  CHECK(contains(storedInto(l, "Odd").front()->sources, "holder"));
  REQUIRE_FALSE(storedInto(l, "row_data").empty());
  CHECK(contains(storedInto(l, "row_data").front()->sources, "new"));
  CHECK(storedInto(l, "v").empty());  // a variable stores nothing

  // NEW replaced by OLD: each column keeps a value of its own.
  const FunctionLineage keep = functionLineage(
      def("keep_old()\n RETURNS trigger", "plpgsql", " BEGIN NEW := OLD; RETURN NEW; END "),
      nullptr);
  REQUIRE(keep.parsed);
  CHECK(keep.stored.empty());
}

TEST_CASE("every way a trigger function's body fills NEW is a store into the written row") {
  const FunctionLineage l =
      functionLineage(def("fill()\n RETURNS trigger", "plpgsql",
                          " BEGIN NEW.a := cvv FROM cards WHERE id = NEW.id ORDER BY id LIMIT 1; "
                          "SELECT c.holder, c.cvv INTO NEW.b, NEW.c FROM cards c; "
                          "IF true THEN NEW.d := NEW.cvv -- a comment\n; END IF; "
                          "NEW.tags[1 /* =0 -- */] := NEW.cvv; GET DIAGNOSTICS NEW.e = PG_CONTEXT; "
                          "GET DIAGNOSTICS NEW.n = ROW_COUNT; "
                          "FOR NEW IN SELECT id, cvv FROM cards LOOP NULL; END LOOP; "
                          "SELECT * INTO NEW FROM cards; RETURN NEW; END "),
                      nullptr);
  REQUIRE(l.parsed);
  CHECK_FALSE(l.may_change_tables);
  // A select list after `:=`, with FROM and ORDER BY.
  REQUIRE(storedInto(l, "a").size() == 1);
  CHECK(contains(storedInto(l, "a")[0]->sources, "cvv"));
  // INTO by position.
  REQUIRE(storedInto(l, "b").size() == 1);
  CHECK(contains(storedInto(l, "b")[0]->sources, "holder"));
  CHECK_FALSE(contains(storedInto(l, "b")[0]->sources, "cvv"));
  REQUIRE(storedInto(l, "c").size() == 1);
  CHECK(contains(storedInto(l, "c")[0]->sources, "cvv"));
  // Nested, with a comment after it.
  REQUIRE(storedInto(l, "d").size() == 1);
  CHECK(contains(storedInto(l, "d")[0]->sources, "cvv"));
  // A subscript, GET DIAGNOSTICS: anything.
  REQUIRE(storedInto(l, "tags").size() == 1);
  CHECK(storedInto(l, "tags")[0]->whole_row);
  REQUIRE(storedInto(l, "e").size() == 1);
  CHECK(storedInto(l, "e")[0]->whole_row);
  CHECK(storedInto(l, "n").empty());  // a count carries no data
  // FOR NEW IN and SELECT * INTO NEW: the whole row, by position.
  const auto whole = storedInto(l, "");
  REQUIRE(whole.size() == 2);
  CHECK(contains(whole[0]->sources, "cvv"));
  CHECK(whole[1]->whole_row);
}

TEST_CASE("a trigger body whose row the sidecar cannot follow stores anything") {
  for (const char* body : {
           " DECLARE r record; BEGIN SELECT * INTO r FROM cards LIMIT 1; RETURN r; END ",
           " BEGIN OLD.note := OLD.cvv; NEW := OLD; RETURN NEW; END ",
           " BEGIN OLD.note := OLD.cvv; RETURN OLD; END ",
           " BEGIN FOREACH NEW.note IN ARRAY (SELECT array_agg(cvv) FROM cards) LOOP END LOOP; "
           "RETURN NEW; END ",
       }) {
    INFO(body);
    const FunctionLineage l =
        functionLineage(def("t()\n RETURNS trigger", "plpgsql", body), nullptr);
    REQUIRE(l.parsed);
    CHECK(std::any_of(l.stored.begin(), l.stored.end(),
                      [](const auto& s) { return s.second.whole_row; }));
  }
  // A body not read whole (dynamic SQL, another language) stores the written row anywhere.
  for (const auto& [language, body] : std::vector<std::pair<std::string, std::string>>{
           {"plpgsql",
            " BEGIN NEW.note := NEW.cvv; IF false THEN EXECUTE ''; END IF; "
            "RETURN NEW; END "},
           {"plpython3u", " return None "}}) {
    INFO(body);
    const FunctionLineage l =
        functionLineage(def("t()\n RETURNS trigger", language, body), nullptr);
    REQUIRE(l.stored.size() == 1);
    CHECK(l.stored[0].first.empty());
    CHECK(l.stored[0].second.sources == std::vector<std::string>{"new"});
  }
  // RETURN NEW, OLD or NULL keeps the row.
  const FunctionLineage plain = functionLineage(
      def("t()\n RETURNS trigger", "plpgsql",
          " BEGIN IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; IF false THEN RETURN NULL; END IF; "
          "RETURN NEW; END "),
      nullptr);
  CHECK(plain.stored.empty());
}

TEST_CASE("a PL/pgSQL variable stored carries what the body put in it, variable to variable") {
  // Each body stores into `note` a value that came from cvv through variables.
  for (const char* body : {
           " DECLARE v text; BEGIN SELECT cvv INTO v FROM cards LIMIT 1; "
           "UPDATE notes SET note = v; END ",
           " DECLARE v text; w text; BEGIN v := (SELECT cvv FROM cards LIMIT 1); w := 'x' || v; "
           "INSERT INTO notes (note) VALUES (w); END ",
           " DECLARE v text := (SELECT cvv FROM cards LIMIT 1); BEGIN "
           "UPDATE notes SET note = v; END ",
           " DECLARE r record; BEGIN FOR r IN SELECT cvv AS k FROM cards LOOP "
           "UPDATE notes SET note = r.k; END LOOP; END ",
           " DECLARE a text; b text; BEGIN SELECT id, cvv INTO a, b FROM cards LIMIT 1; "
           "UPDATE notes SET note = b; END ",
           " DECLARE c text; BEGIN UPDATE cards SET holder = 'x' RETURNING cvv INTO c; "
           "UPDATE notes SET note = c; END ",
           " DECLARE x text; arr text[]; BEGIN arr := ARRAY(SELECT cvv FROM cards); "
           "FOREACH x IN ARRAY arr LOOP UPDATE notes SET note = x; END LOOP; END ",
           " DECLARE i int; BEGIN FOR i IN (SELECT length(cvv) FROM cards LIMIT 1)..10 LOOP "
           "UPDATE notes SET note = i; END LOOP; END ",
           " DECLARE v text; BEGIN v := cvv FROM cards ORDER BY id LIMIT 1; "
           "UPDATE notes SET note = v; END ",
           // FOREACH into a list of variables; a record named with its block's label; an
           // ALIAS of a labelled variable.
           " DECLARE a text; b int; BEGIN FOREACH a, b IN ARRAY (SELECT array_agg((cvv, id)::pair) "
           "FROM cards) LOOP UPDATE notes SET note = a; END LOOP; END ",
           " <<blk>> DECLARE r record; BEGIN SELECT cvv AS k INTO r FROM cards; "
           "UPDATE notes SET note = blk.r.k; END ",
           " <<blk>> DECLARE v text; BEGIN DECLARE a ALIAS FOR blk.v; BEGIN "
           "SELECT cvv INTO v FROM cards; UPDATE notes SET note = a; END; END ",
       }) {
    INFO(body);
    const FunctionLineage l =
        functionLineage(def("stash()\n RETURNS void", "plpgsql", body), nullptr);
    REQUIRE(l.parsed);
    CHECK_FALSE(l.may_change_tables);
    const auto note = storedInto(l, "note");
    REQUIRE_FALSE(note.empty());
    CHECK(contains(note.front()->sources, "cvv"));
  }
  // A variable only compared is stored nowhere; another one stores only its own value.
  FunctionLineage l = functionLineage(
      def("check(given text)\n RETURNS void", "plpgsql",
          " DECLARE v text; msg text := 'checked'; BEGIN SELECT cvv INTO v FROM cards LIMIT 1; "
          "IF v = given THEN INSERT INTO attempts (note) VALUES (msg); END IF; END "),
      nullptr);
  REQUIRE(l.stored.size() == 1);
  CHECK_FALSE(contains(l.stored[0].second.sources, "cvv"));
  CHECK_FALSE(l.stored[0].second.whole_row);
  CHECK_FALSE(l.stores_arguments);
  // The function's first parameter (datum 0, which libpg_query leaves out) filled and stored;
  // an OUT parameter.
  for (const char* signature :
       {"first(m text)\n RETURNS void", "first(OUT m text)\n RETURNS text"}) {
    INFO(signature);
    l = functionLineage(def(signature, "plpgsql",
                            " BEGIN SELECT cvv INTO m FROM cards LIMIT 1; "
                            "UPDATE notes SET note = m; END "),
                        nullptr);
    REQUIRE(l.stored.size() == 1);
    CHECK(contains(l.stored[0].second.sources, "cvv"));
  }
  // A variable holding a parameter, or an ALIAS of one, stores the call's arguments.
  for (const char* body : {" DECLARE v text; BEGIN v := upper(m); UPDATE notes SET note = v; END ",
                           " DECLARE v text; BEGIN v := $1; UPDATE notes SET note = v; END ",
                           " DECLARE v text := $1; BEGIN UPDATE notes SET note = v; END ",
                           " DECLARE p ALIAS FOR $1; BEGIN UPDATE notes SET note = p; END ",
                           " DECLARE p ALIAS FOR m; BEGIN UPDATE notes SET note = p; END "}) {
    INFO(body);
    l = functionLineage(def("log_note(m text)\n RETURNS void", "plpgsql", body), nullptr);
    REQUIRE(l.parsed);
    CHECK(l.stores_arguments);
  }
  // An error's text may quote any column the body names.
  l = functionLineage(
      def("try_it()\n RETURNS void", "plpgsql",
          " DECLARE m text; BEGIN PERFORM cvv::int FROM cards; EXCEPTION WHEN others THEN "
          "GET STACKED DIAGNOSTICS m = MESSAGE_TEXT; INSERT INTO errors (msg, detail) "
          "VALUES (SQLERRM, m); END "),
      nullptr);
  REQUIRE(l.stored.size() == 2);
  CHECK(contains(l.stored[0].second.sources, "cvv"));
  CHECK(contains(l.stored[1].second.sources, "cvv"));
  // A detail or hint may quote whole rows ("Failing row contains (...)").
  l = functionLineage(
      def("try_it()\n RETURNS void", "plpgsql",
          " DECLARE d text; BEGIN UPDATE cards SET holder = NULL; EXCEPTION WHEN others THEN "
          "GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL; INSERT INTO errors (detail) "
          "VALUES (d); END "),
      nullptr);
  REQUIRE(l.stored.size() == 2);  // holder, then detail
  CHECK(l.stored[1].first == "detail");
  CHECK(l.stored[1].second.whole_row);
  // An OUT parameter filled by GET DIAGNOSTICS is returned: what it holds is the result.
  l = functionLineage(
      def("leak(OUT o text)\n RETURNS text", "plpgsql",
          " BEGIN UPDATE cards SET holder = NULL WHERE id = 1; EXCEPTION WHEN others THEN "
          "GET STACKED DIAGNOSTICS o = PG_EXCEPTION_DETAIL; END "),
      nullptr);
  CHECK(l.result.whole_row);
  // A variable handed to CALL may come back as anything (an INOUT argument), labelled or not.
  for (const char* body :
       {" DECLARE v text; BEGIN CALL fill(v); UPDATE notes SET note = v; END ",
        " <<blk>> DECLARE v text; BEGIN CALL fill(blk.v); UPDATE notes SET note = v; END ",
        " DECLARE v text; a ALIAS FOR v; BEGIN CALL fill(a); UPDATE notes SET note = v; END ",
        " DECLARE a ALIAS FOR $1; BEGIN CALL fill(a); UPDATE notes SET note = a; END "}) {
    INFO(body);
    l = functionLineage(def("p(x text)\n RETURNS void", "plpgsql", body), nullptr);
    REQUIRE_FALSE(l.stored.empty());
    CHECK(l.stored[0].second.whole_row);
  }
}

TEST_CASE("a trigger's row reaches a store through variables and aliases") {
  for (const char* body : {
           " DECLARE r record; BEGIN r := NEW; INSERT INTO audit (row_data) "
           "VALUES (to_jsonb(r)); RETURN NEW; END ",
           " DECLARE n ALIAS FOR NEW; BEGIN INSERT INTO audit (row_data) VALUES (to_jsonb(n)); "
           "RETURN NEW; END ",
           " DECLARE \"Row\" ALIAS FOR new; BEGIN INSERT INTO audit (row_data) "
           "VALUES (to_jsonb(\"Row\")); RETURN NEW; END ",
       }) {
    INFO(body);
    const FunctionLineage l =
        functionLineage(def("t()\n RETURNS trigger", "plpgsql", body), nullptr);
    REQUIRE(l.parsed);
    REQUIRE(l.stored.size() == 1);
    CHECK(contains(l.stored[0].second.sources, "new"));
  }
  // NEW's field handed to CALL through an alias.
  const FunctionLineage aliased =
      functionLineage(def("t()\n RETURNS trigger", "plpgsql",
                          " DECLARE n ALIAS FOR new; BEGIN CALL fill(n.note); RETURN NEW; END "),
                      nullptr);
  const auto into_note = storedInto(aliased, "note");
  REQUIRE_FALSE(into_note.empty());
  CHECK(into_note.front()->whole_row);
  // A detail put in NEW may quote any row.
  const FunctionLineage detail = functionLineage(
      def("t()\n RETURNS trigger", "plpgsql",
          " BEGIN UPDATE cards SET holder = NULL WHERE id = NEW.card_id; RETURN NEW; "
          "EXCEPTION WHEN others THEN GET STACKED DIAGNOSTICS NEW.note = PG_EXCEPTION_DETAIL; "
          "RETURN NEW; END "),
      nullptr);
  REQUIRE(detail.stored.size() == 2);  // holder, then NEW.note
  CHECK(detail.stored[1].first == "note");
  CHECK(detail.stored[1].second.whole_row);
  // NEW's field handed to CALL, and SQLERRM put in NEW.
  for (const char* body : {
           " BEGIN CALL fill(NEW.note); RETURN NEW; END ",
           " BEGIN PERFORM cvv::int FROM cards; RETURN NEW; EXCEPTION WHEN others THEN "
           "NEW.note := SQLERRM; RETURN NEW; END ",
       }) {
    INFO(body);
    const FunctionLineage l =
        functionLineage(def("t()\n RETURNS trigger", "plpgsql", body), nullptr);
    REQUIRE(l.parsed);
    const auto note = storedInto(l, "note");
    REQUIRE_FALSE(note.empty());
    CHECK((note.front()->whole_row || contains(note.front()->sources, "cvv")));
  }
}

}  // namespace
}  // namespace tollgate::policy
