// Extracts the SQL a PL/pgSQL DO body runs, using libpg_query's PL/pgSQL parser.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tollgate::policy::sql {

// Appends the text of every SQL statement and expression in the PL/pgSQL `body` as PL/pgSQL
// keeps it: statements ("DELETE FROM t"), expressions ("x > 1", "SELECT f()" for PERFORM) and
// assignments ("x := expr"); the caller parses them.
// Returns false when the body does not parse. Dynamic SQL (EXECUTE <string>) cannot be seen;
// `*dynamic` is set when the body has any, or nests too deep to be read whole.
bool plpgsqlQueries(std::string_view body, std::vector<std::string>* queries, bool* dynamic);

// A store into one of a PL/pgSQL body's variables, or into the row a trigger function's NEW
// names: `v := cvv`, `SELECT cvv INTO v FROM cards`, `FOR r IN SELECT ...`, a variable's
// DECLARE default, `NEW.note := NEW.cvv`, `FOR NEW IN SELECT ...`.
struct VariableStore {
  // The variable as the body names it (PL/pgSQL's folded name; an ALIAS's own name), when
  // not `new_row`: a store into NEW, whose field is `field` (empty for NEW itself).
  std::string variable;
  bool new_row = false;
  std::string field;
  // The value: result column `column` of `query` (a SELECT), or every one of its columns
  // when `row` (NEW itself; a variable alone in an INTO list or FOR target, which may be a
  // record or of a row type).
  std::string query;
  size_t column = 0;
  bool row = false;
  // The value cannot be followed (an assignment target the sidecar does not read, such as a
  // subscript; an INOUT argument of CALL; a FOREACH into NEW): it may be anything.
  bool unknown = false;
  // The value is an error's text (SQLERRM, GET DIAGNOSTICS ... MESSAGE_TEXT): it may quote
  // any column the body names.
  bool error_text = false;
  // `variable ALIAS FOR alias_of`: another variable, NEW or OLD, or a parameter (`$1`).
  std::string alias_of;
};

// What the PL/pgSQL body of a function reads and fills.
struct PlpgsqlBody {
  std::vector<std::string> queries;  // as plpgsqlQueries() gives them
  bool dynamic = false;              // as plpgsqlQueries() sets it
  // The names of its variables, parameters and aliases among them, not NEW or OLD: a query
  // naming `r.f` reads variable r.
  std::vector<std::string> variables;
  // Every store into a variable or into NEW that the body makes.
  std::vector<VariableStore> stores;
};

// Reads the body of a function with `signature` (parameters and result as in CREATE FUNCTION:
// `(OUT code text) RETURNS SETOF record`, `() RETURNS trigger`), which decides what the body
// may say (RETURN NEXT, RETURN QUERY, its parameters' names as variables, NEW and OLD).
// Returns false when it does not parse.
bool readPlpgsql(std::string_view body, std::string_view signature, PlpgsqlBody* out);

}  // namespace tollgate::policy::sql
