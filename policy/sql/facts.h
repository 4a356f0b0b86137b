// Facts about SQL statements, extracted from the real PostgreSQL grammar (libpg_query).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/lineage.h"

namespace tollgate::policy {

// Coarse class of a statement; roles and guardrails decide on it.
enum class StatementClass {
  kRead,         // SELECT without side effects, SHOW, plain EXPLAIN, FETCH
  kWrite,        // INSERT, UPDATE, DELETE, MERGE, COPY FROM, SELECT ... FOR UPDATE, CALL
  kDdl,          // CREATE / ALTER / DROP / TRUNCATE / GRANT / REVOKE / COMMENT, SELECT INTO
  kAdmin,        // dangerous functions, COPY TO/FROM PROGRAM or file, ALTER SYSTEM, roles...
  kTransaction,  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION
  kOther,        // SET, RESET, DISCARD, LISTEN, NOTIFY, EXECUTE (resolved by the caller)
};

// "read", "write", "ddl", "admin", "transaction", "other".
std::string_view className(StatementClass c);
// How much a class can change: read 0, write 1, ddl 2, admin 3; -1 for transaction and other,
// which never escalate a statement. A statement's class is the most severe thing it does.
int classSeverity(StatementClass c);
// Parses the names above; returns false on anything else.
bool parseClass(std::string_view name, StatementClass* out);

// How COPY ... TO STDOUT writes its rows (its options): what the sidecar needs to read them
// back field by field and mask them.
struct CopyOutFormat {
  enum class Kind { kText, kCsv, kBinary };
  Kind kind = Kind::kText;
  char delimiter = '\t';            // ',' for CSV
  std::string null_marker = "\\N";  // "" for CSV
  char quote = '"';                 // CSV only
  char escape = '"';                // CSV only; the quote unless given
  bool header = false;              // the first line holds the column names
  std::string encoding;             // the ENCODING option, "" for the client encoding
  // False when an option could not be read (a delimiter, quote or escape that is not one
  // byte, an unknown format): such a statement fails on the server, or must be refused.
  bool readable = true;
};

// Everything the policy engine needs to know about one statement.
struct StatementFacts {
  StatementClass cls = StatementClass::kOther;
  // Lower-case statement type: "select", "insert", "update", "delete", "merge", "copy",
  // "create_table", "drop", "alter_table", "truncate", "do", "explain", "prepare", "execute",
  // "begin", "commit", "set", "show", ... (one per libpg_query statement node kind).
  // SELECT ... INTO is "select_into"; SET TRANSACTION is "set_transaction"; transaction
  // statements are "begin" (also START), "commit" (also END), "rollback" (also ABORT),
  // "savepoint", "release", "rollback_to", "prepare_transaction", "commit_prepared",
  // "rollback_prepared"; VACUUM is "vacuum", ANALYZE "analyze"; FETCH/MOVE "fetch"/"move".
  //
  // Class decisions worth knowing (see tree_walker.cc):
  //   - a data-modifying CTE, SELECT ... FOR UPDATE/SHARE, or a call of nextval/setval/lo_*
  //     writers makes a statement at least a write; any dangerous function (server files,
  //     dblink, other backends, set_config, query_to_xml, ...) anywhere makes it admin;
  //   - EXPLAIN ANALYZE has the class of the statement it runs; plain EXPLAIN is read (but
  //     still admin if a dangerous function appears);
  //   - PREPARE has the class of its statement; EXECUTE is "other": the caller must resolve
  //     the prepared name to the facts recorded at PREPARE time (the sidecar does);
  //   - CALL is write (a procedure can do anything its owner may; "other" would let a read
  //     role run it silently);
  //   - DO is admin (it runs arbitrary code); the plpgsql body is still parsed and what it
  //     touches is reported in reads/writes/functions/inner_types;
  //   - COPY to/from a server file or PROGRAM is admin, COPY FROM STDIN write, COPY TO STDOUT
  //     read;
  //   - SET ROLE / SET SESSION AUTHORIZATION and turning standard_conforming_strings off are
  //     admin; other SET/RESET/DISCARD/LISTEN/NOTIFY are other; SHOW is read;
  //   - VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT, roles, databases, extensions are admin;
  //   - PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED (two-phase commit) are admin.
  std::string type;
  // Relations read and written, "table", "schema.table" or "catalog.schema.table", with
  // PostgreSQL's identifier rules applied (unquoted names lower-cased, quoted names keep
  // their case, U&"" escapes resolved). De-duplicated, in first-seen order. Write targets
  // (INSERT/UPDATE/DELETE/MERGE/COPY FROM targets, created/altered/dropped/truncated
  // relations) are in `writes` only: a policy guarding a table checks both lists. References
  // to a CTE by name are not relations.
  std::vector<std::string> reads;
  std::vector<std::string> writes;
  // Functions called anywhere in the statement ("schema.name" when qualified), names as
  // PostgreSQL folds them.
  std::vector<std::string> functions;
  // False when any UPDATE or DELETE in the statement (including one inside a CTE, EXPLAIN
  // ANALYZE, PREPARE or a DO body) has no WHERE clause (WHERE CURRENT OF counts as one).
  // True for statements without UPDATE/DELETE.
  bool has_where = true;
  // Types of statements nested in this one that run with it: a data-modifying CTE
  // ("delete" in WITH d AS (DELETE ...) SELECT ...), the statement under EXPLAIN ANALYZE,
  // PREPARE or DECLARE, statements in a DO body. Excludes "select". De-duplicated.
  std::vector<std::string> inner_types;
  // An INSERT in it (a data-modifying CTE's, a prepared one's) has ON CONFLICT DO UPDATE: it
  // may update rows, and fire UPDATE triggers.
  bool upserts = false;
  // Normalised text: every literal replaced by $n placeholders (libpg_query normalise), so it
  // is safe to log and audit. Never contains a literal value from the input.
  std::string normalized;
  // libpg_query fingerprint (hex, 16 chars) of the statement: equal for equal shapes.
  std::string fingerprint;
  // Which source columns each result column is made of, for name-based masking rules.
  OutputLineage lineage;
  // Column names referenced anywhere in the statement (as PostgreSQL folds them), and whether
  // it references whole rows (`*`, `t.*`, a table or alias used as a value): the data an error
  // raised while it runs may quote (`invalid input syntax for type integer: "123x"`).
  std::vector<std::string> columns;
  bool row_reference = false;
  // COPY ... TO STDOUT (a table with or without a column list, or a query): its row format.
  // The result columns are in `lineage` when the statement names them.
  std::optional<CopyOutFormat> copy_out;
  // What the statement sets client_encoding to (SET client_encoding, SET NAMES, set_config),
  // lower-cased; empty when it is not a constant.
  std::optional<std::string> sets_client_encoding;
  // Not the analyser's: set by the sidecar from its catalog of the database's functions and
  // triggers. A function it calls (or one they call) may create, alter or drop tables or types:
  // DDL, dynamic SQL, a body not read. A trigger its writes fire (or the writes of what it
  // calls), or a function such a trigger calls, is seen to (DDL, CALL, DO; not dynamic SQL).
  bool calls_table_changes = false;
  bool fires_table_changes = false;
};

// Facts for one query string (which may hold several statements).
struct QueryFacts {
  // False when the text does not parse (or holds a NUL byte, or nests too deeply to
  // analyse); `error` says why (never echoing literals or identifiers from the text) and
  // `statements` is empty. Policy decides what a parse failure gets (default: block).
  bool parsed = true;
  bool oversized = false;  // not analysed at all: longer than the caller's limit
  std::string error;
  std::vector<StatementFacts> statements;

  bool multiStatement() const { return statements.size() > 1; }
};
using QueryFactsPtr = std::shared_ptr<const QueryFacts>;

}  // namespace tollgate::policy
