// Facts about SQL statements, extracted from the real PostgreSQL grammar (libpg_query).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::policy {

// Coarse class of a statement; roles and guardrails decide on it.
enum class StatementClass {
  kRead,         // SELECT without side effects, SHOW, plain EXPLAIN, FETCH
  kWrite,        // INSERT, UPDATE, DELETE, MERGE, COPY FROM, SELECT ... FOR UPDATE/INTO
  kDdl,          // CREATE / ALTER / DROP / TRUNCATE / GRANT / REVOKE / COMMENT ...
  kAdmin,        // dangerous functions, COPY TO/FROM PROGRAM or file, ALTER SYSTEM, roles...
  kTransaction,  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION
  kOther,        // SET, RESET, DISCARD, LISTEN, PREPARE/EXECUTE wrappers resolved, ...
};

// "read", "write", "ddl", "admin", "transaction", "other".
std::string_view className(StatementClass c);
// Parses the names above; returns false on anything else.
bool parseClass(std::string_view name, StatementClass* out);

// Everything the policy engine needs to know about one statement.
struct StatementFacts {
  StatementClass cls = StatementClass::kOther;
  // Lower-case statement type: "select", "insert", "update", "delete", "merge", "copy",
  // "create_table", "drop", "alter_table", "truncate", "do", "explain", "prepare", "execute",
  // "begin", "commit", "set", "show", ... (one per libpg_query statement node kind).
  std::string type;
  // Relations read and written, as written in the statement but lower-cased and without
  // quotes: "table" or "schema.table". De-duplicated, in first-seen order.
  std::vector<std::string> reads;
  std::vector<std::string> writes;
  // Functions called anywhere in the statement (lower-case, "schema.name" when qualified).
  std::vector<std::string> functions;
  // For UPDATE / DELETE: whether it has a WHERE clause (or CURRENT OF). True for others.
  bool has_where = true;
  // Normalised text: every literal replaced by $n placeholders (libpg_query normalise), so it
  // is safe to log and audit. Never contains a literal value from the input.
  std::string normalized;
  // libpg_query fingerprint (hex, 16 chars) of the statement: equal for equal shapes.
  std::string fingerprint;
};

// Facts for one query string (which may hold several statements).
struct QueryFacts {
  // False when the text does not parse; `error` says why (never echoing literals) and
  // `statements` is empty. Policy decides what a parse failure gets (default: block).
  bool parsed = true;
  std::string error;
  std::vector<StatementFacts> statements;

  bool multiStatement() const { return statements.size() > 1; }
};
using QueryFactsPtr = std::shared_ptr<const QueryFacts>;

}  // namespace tollgate::policy
