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
// A store into the row a trigger function's NEW names: `NEW.note := NEW.cvv`, `SELECT cvv INTO
// NEW.note FROM cards`, `FOR NEW IN SELECT ...`. The value is result column `column` of `query`
// (a SELECT), or all its columns by position when `field` is empty (NEW itself).
struct NewRowStore {
  std::string field;  // NEW's field as PL/pgSQL resolved it; empty for the whole row
  std::string query;
  size_t column = 0;
  // The value cannot be followed (an assignment target the sidecar does not read, such as a
  // subscript; GET DIAGNOSTICS): it may be anything.
  bool unknown = false;
};
// The same for the body of a function with `signature` (parameters and result as in CREATE
// FUNCTION: `(OUT code text) RETURNS SETOF record`, `() RETURNS trigger`), which decides what
// the body may say (RETURN NEXT, RETURN QUERY, its parameters' names as variables, NEW and OLD).
// `new_row`, when given, gets the stores into NEW (a trigger function's).
bool plpgsqlQueries(std::string_view body, std::string_view signature,
                    std::vector<std::string>* queries, bool* dynamic,
                    std::vector<NewRowStore>* new_row = nullptr);

}  // namespace tollgate::policy::sql
