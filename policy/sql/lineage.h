// Result-column lineage: which source column names each column a statement returns is made of.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::policy {

// The column names one result expression reads (`upper(cvv) || x` reads cvv and x).
struct ColumnLineage {
  // Column names as PostgreSQL folds them (unquoted lower-cased), de-duplicated.
  std::vector<std::string> sources;
  // The expression carries a whole row (`t` or `t.*` inside an expression, `to_jsonb(t)`), or a
  // column renamed without a known source (`FROM cards c(a, b)`): it may hold any column.
  bool whole_row = false;
  // A whole row reached it through something other than a conversion of the row to JSON
  // (to_json, to_jsonb, row_to_json, json_agg, jsonb_agg, array_to_json, json(b)_build_array,
  // json(b)_strip_nulls, casts to json/jsonb, and jsonb's -, #- and ||): `to_jsonb(c)->'cvv'`,
  // `jsonb_path_query(to_jsonb(c), '$.cvv')`. Its JSON field names no longer tell what its
  // values are.
  bool reshaped = false;
};

// What name-based masking needs to know about a statement's result columns, from the parse
// tree alone (no catalog): a rule for column `cvv` must also mask `SELECT cvv AS c`,
// `SELECT 'x' || cvv`, `WITH q AS (SELECT cvv AS z ...) SELECT z FROM q` and
// `UPDATE ... SET note = cvv RETURNING note`. It over-approximates on purpose: anything
// computed from a masked column is masked, and a rename anywhere in the statement counts
// everywhere in it.
struct OutputLineage {
  // True for statements whose result columns were followed: SELECT / VALUES / set operations,
  // INSERT / UPDATE / DELETE / MERGE ... RETURNING, and those under PREPARE or DECLARE CURSOR.
  bool known = false;
  // The top-level target list: entries before its first `*` expansion, and after its last one
  // (aligned to the end of the result). Without a `*`, `head` covers every result column.
  std::vector<ColumnLineage> head;
  std::vector<ColumnLineage> tail;
  bool star = false;
  // Every rename in the statement, in order: target aliases, SET targets, CTE and sub-select
  // column lists, FROM-item aliases (a row alias carries its whole row).
  std::vector<std::pair<std::string, ColumnLineage>> renames;
  // What the statement stores, wherever it does (INSERT, UPDATE, MERGE, ON CONFLICT DO UPDATE,
  // CREATE TABLE AS, SELECT INTO; inside CTEs, PREPARE, EXPLAIN ANALYZE, rules and SQL function
  // bodies): per stored column its name, and what its value is made of. The name is "" when
  // the statement does not give it: INSERT without a column list, an expression without an
  // alias in CREATE TABLE AS. A `*` stored by position (INSERT ... SELECT *) is an entry with
  // whole_row; in CREATE TABLE AS each column it expands to keeps its own name and adds none.
  std::vector<std::pair<std::string, ColumnLineage>> stored;
  // Entries of `stored` whose whole_row comes only from `*` or `t.*` over tables
  // (INSERT INTO archive SELECT * FROM orders): the entry's index, and the names (relname) of the
  // tables in that FROM clause. Which columns a table has is the session's to know (it reads
  // them at login): it replaces whole_row by their names, so a `*` over tables without masked
  // columns stores nothing masked.
  std::vector<std::pair<size_t, std::vector<std::string>>> star_tables;
  // Entries of `stored` whose value is a table's column stored unchanged into a whole column:
  // `SET card2 = card` or `SET card2 = w.card` (UPDATE over plain tables without WITH, ON
  // CONFLICT DO UPDATE), not `SET card2.holder = ...`, `SET card2 = row(...)`, any other
  // expression, MERGE, or an UPDATE whose FROM has a sub-select, a function or a table function
  // (which may define the name). Where both are of one composite type the value keeps its
  // field names (the session knows the types).
  std::vector<size_t> bare_stores;
  // Set by the caller, not the analyser: it made stored values of the columns its catalog says
  // tables have (star_tables entries) or of the fields it says a composite type has, which
  // holds only while the tables and types stay as they were.
  bool catalog_resolved = false;
  // CREATE TABLE AS / SELECT INTO / CREATE VIEW stores a `*` over tables under their columns'
  // own names: a view among them (which the session knows) may have renamed a masked column.
  bool stores_star = false;
  // A write in it takes values from the statement's parameters ($1): what an EXECUTE of it
  // passes is stored (the session judges `arguments` of the EXECUTE against it).
  bool stores_parameters = false;
  // EXECUTE p(args): what its parameter values are made of.
  ColumnLineage arguments;
  // PREPARE name / DECLARE cursor name this statement defines (its lineage is what a later
  // EXECUTE / FETCH of that name returns), and the name an EXECUTE / FETCH / MOVE uses.
  std::string defines;
  std::string uses;
  // The prepared statement EXPLAIN EXECUTE p(args) plans (its `arguments` are args); with
  // ANALYZE it runs it, and `uses` names it too. The result is the plan, not p's columns.
  std::string explains;
  // DECLARE ... WITH HOLD: the cursor outlives the transaction that declared it.
  bool holds = false;
  // The name DEALLOCATE / CLOSE removes; `releases_all` for DEALLOCATE ALL, CLOSE ALL and
  // DISCARD ALL (which does both).
  std::string releases;
  bool releases_all = false;
  // Set by the caller, not the analyser: the result comes from a statement or cursor whose
  // definition was not seen (a cursor a function opened, a name PREPAREd by dynamic SQL), so any
  // column may carry any column (namesFor() reports every column as a whole row).
  bool opaque = false;
  // What may reach the result under a name the server chose, not the statement: columns of
  // functions in FROM and XMLTABLE (their arguments: `value` of jsonb_each(to_jsonb(c))), and
  // columns of sub-selects and CTEs without an alias (`column1` of VALUES (cvv), `upper` of
  // upper(cvv), `f1` of (ROW(cvv)).*). Columns a `*` expands to may be any of it.
  ColumnLineage unnamed;

  // Names whose data result column `index` (of `count`, named `name` by the server) may carry:
  // its own name, the sources of its expression, and renames followed transitively. Sets
  // `*whole_row` when it may carry a whole row or an unknown column. When the server's column
  // count does not fit the target list, every column gets the sources of all of them.
  // `*reshaped` (when given) is set when such a whole row may have been reshaped
  // (ColumnLineage::reshaped): then even a JSON column must be masked whole.
  std::vector<std::string> namesFor(size_t index, size_t count, std::string_view name,
                                    bool* whole_row, bool* reshaped = nullptr) const;
  // `name` and everything it was renamed from (for JSON field names: to_jsonb(s) over a
  // sub-select whose column `k` is `cvv AS k`). Sets `*whole_row` and `*reshaped` like
  // namesFor.
  std::vector<std::string> closure(std::string_view name, bool* whole_row,
                                   bool* reshaped = nullptr) const;
};

// The name a call of function `name` (its last name, as PostgreSQL folds it) appears under
// among a column's sources: `get_cvv()` for `SELECT get_cvv(id) AS x`. The sidecar adds what
// a database function returns as a rename of that name (function_lineage.h); no column can
// have it unless quoted so, and masking rules never match it.
std::string callName(std::string_view name);
// The name a call's value itself appears under besides callName() (`get_card()` in
// `SELECT get_card()::text`, not the columns of `FROM get_card()`): `get_card()*`. The sidecar
// gives it the function's result type, so a row value converted to text is masked like a column
// of that type.
std::string callValueName(std::string_view name);
// Calls `f` with each reading of a name the analyser lists (StatementFacts::functions and
// reads: "schema.name" or "name", and a quoted name may hold dots itself: `tg.dotted` is
// dotted in schema tg or "tg.dotted"): the whole name, then what follows each dot. Stops when
// `f` returns true, and says whether it did.
template <typename F>
bool anyReading(std::string_view name, F f) {
  for (size_t from = 0;;) {
    if (f(name.substr(from))) return true;
    const size_t dot = name.find('.', from);
    if (dot == std::string_view::npos) return false;
    from = dot + 1;
  }
}
// Whether `name` is a trigger function's NEW or OLD row as a source (`to_jsonb(NEW)`), which
// carries the written row's columns.
inline bool isTriggerRowName(std::string_view name) { return name == "new" || name == "old"; }
// Among OutputLineage::star_tables, what a trigger's NEW.* or OLD.* expands: no table's name
// (none holds a NUL), so a table named `new` stays a table.
inline constexpr std::string_view kTriggerRowStar{"\0trigger row", 12};
// Adds to `names` the callName() of each reading of `function` as StatementFacts::functions
// lists it (anyReading()).
void addCallNamesOfListed(std::vector<std::string>* names, std::string_view function);
// Either kind of name.
bool isCallName(std::string_view name);
// The function a callName() names (`get_cvv` for `get_cvv()`); nullopt for any other name,
// callValueName() ones included (the call's callName() comes with them).
std::optional<std::string_view> calledFunction(std::string_view name);

// Adds `name` to `names` unless empty or already there.
void addLineageName(std::vector<std::string>* names, std::string_view name);
// Adds `from`'s sources (de-duplicated) and flags to `into`.
void mergeLineage(ColumnLineage* into, const ColumnLineage& from);

// Columns that hold values of other columns, of any table: the planner statistics views
// pg_stats and pg_stats_ext_exprs (most_common_vals, most_common_elems, histogram_bounds),
// pg_stats_ext (most_common_vals), pg_statistic (stavalues1-5), and pg_locks (classid, objid:
// the keys of advisory locks, pg_advisory_lock(cvv::int, 0)). Without the catalog a rule for
// `cvv` cannot tell whose values they are, so they may carry any column (namesFor() and
// closure() report them as a whole row; JSON field masking masks them whole). Catalogs with
// columns of those names (pg_depend, pg_description) are masked the same way.
bool holdsOtherColumnsValues(std::string_view name);

}  // namespace tollgate::policy
