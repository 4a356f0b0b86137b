// Static knowledge about PostgreSQL statements and functions: types, classes, dangerous calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/facts.h"

namespace tollgate::policy::sql {

// Type name and class of a libpg_query statement node kind (e.g. "CreateStmt").
struct StatementKind {
  std::string_view type;  // e.g. "create_table"
  StatementClass cls;
};

// Looks up `node` ("SelectStmt", "CreateStmt", ...). Kinds missing from the table get a type
// derived from the node name ("AlterFooBarStmt" -> "alter_foo_bar") and class ddl for
// Create/Alter/Drop/Define prefixes, admin otherwise (an unknown statement never reads as
// harmless). Statements whose class depends on their fields (SELECT, EXPLAIN, COPY, SET,
// TransactionStmt, ...) are refined by the tree walker.
StatementKind statementKind(std::string_view node, std::string* derived_type);

// Every statement type the analyser gives (StatementFacts::type and inner_types), sorted, each
// once: the types of the statement table, the tree walker's refinements (select_into, revoke,
// ...), those of transaction statements, and "unknown". A guardrail naming another type could
// never match.
const std::vector<std::string_view>& statementTypes();
bool isStatementType(std::string_view type);

// Type and class of a TransactionStmt by its libpg_query kind ("TRANS_STMT_BEGIN", ...).
// Two-phase commit (PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) is admin; unknown kinds
// are admin with type "transaction".
StatementClass transactionKind(std::string_view kind, std::string* type);

// True for functions that reach outside the database's data model: server files, large
// object import/export, other servers (dblink*), other backends, configuration, WAL and
// replication control, and functions that run SQL given as text (query_to_xml, ts_stat, ...).
// `name` is the last component of the function name; matched case-insensitively.
bool isDangerousFunction(std::string_view name);

// True for functions that return rows they read themselves: from SQL given as text, from a
// table, schema or database named by a string (all dangerous), or from a cursor
// (cursor_to_xml). Their result may hold any column.
bool readsRowsItself(std::string_view name);

// True for functions that modify state although they are usually called from a SELECT
// (nextval, setval, large object writers): they make a statement at least a write.
bool isWritingFunction(std::string_view name);
// True for functions whose arguments end up where they are read back under no column name: a
// large object's bytes, a sequence's value (the writing functions above), a notification's
// payload (pg_notify, delivered to every listener).
bool storesArguments(std::string_view name);

// True for run-time settings whose change is a privilege change (role, session
// authorization, session_replication_role, which turns triggers off), silences the server's
// own logging and tracking of the session (log_*, debug_*, track_*), or loads code into it
// (session/local_preload_libraries): SET of these is admin.
// (standard_conforming_strings, which changes how the server lexes later statements, is
// value-dependent and handled by the tree walker.)
bool isPrivilegedSetting(std::string_view name);

// True for a setting a read or write role may change (SET, set_config, a startup parameter):
// named, not privileged, and not a custom dotted setting (`app.tenant`, which often drives
// row-level security). Whether its value matters (standard_conforming_strings) is the caller's.
bool isOrdinarySetting(std::string_view name);

// True for the settings that keep transactions read-only (default_transaction_read_only,
// transaction_read_only): a read grant's session starts with the first on, so turning either
// off is a write.
bool isReadOnlySetting(std::string_view name);

// True for the values PostgreSQL reads as boolean true that the policy accepts (on, true, yes,
// 1; any case).
bool isTrueWord(std::string_view value);

// True for encodings whose multibyte characters can contain ASCII bytes (a quote, a backslash,
// a delimiter): PostgreSQL's client-only encodings SJIS, BIG5, GBK, UHC, GB18030, JOHAB and
// SHIFT_JIS_2004, as the server spells them or by an alias. The server converts a query from
// such an encoding before lexing it, so a statement read as UTF-8 may end elsewhere for it.
bool isAsciiEmbeddingEncoding(std::string_view name);

// ASCII lower-case copy.
std::string asciiLower(std::string_view s);

}  // namespace tollgate::policy::sql
