// Statement kind table, dangerous and writing function lists.
#include "policy/sql/statement_table.h"

#include <algorithm>
#include <array>
#include <utility>

namespace tollgate::policy::sql {
namespace {

using C = StatementClass;

struct Row {
  std::string_view node;
  std::string_view type;
  StatementClass cls;
};

// Sorted by node name (binary search; checked at compile time below). Types are part of the
// policy language (guardrails name them): a kind's type never changes once given. The kinds
// added after their types were derived from node names keep those names (alter_enum,
// alter_stats, alter_op_family, alter_t_s_configuration, alter_t_s_dictionary).
constexpr std::array kRows = {
    Row{"AlterCollationStmt", "alter_collation", C::kDdl},
    Row{"AlterDatabaseRefreshCollStmt", "alter_database", C::kAdmin},
    Row{"AlterDatabaseSetStmt", "alter_database", C::kAdmin},
    Row{"AlterDatabaseStmt", "alter_database", C::kAdmin},
    Row{"AlterDefaultPrivilegesStmt", "alter_default_privileges", C::kDdl},
    Row{"AlterDomainStmt", "alter_domain", C::kDdl},
    Row{"AlterEnumStmt", "alter_enum", C::kDdl},
    Row{"AlterEventTrigStmt", "alter_event_trigger", C::kAdmin},
    Row{"AlterExtensionContentsStmt", "alter_extension", C::kAdmin},
    Row{"AlterExtensionStmt", "alter_extension", C::kAdmin},
    Row{"AlterFdwStmt", "alter_foreign_data_wrapper", C::kAdmin},
    Row{"AlterForeignServerStmt", "alter_server", C::kAdmin},
    Row{"AlterFunctionStmt", "alter_function", C::kDdl},
    Row{"AlterObjectDependsStmt", "alter_object_depends", C::kDdl},
    Row{"AlterObjectSchemaStmt", "alter_object_schema", C::kDdl},
    Row{"AlterOpFamilyStmt", "alter_op_family", C::kDdl},
    Row{"AlterOperatorStmt", "alter_operator", C::kDdl},
    Row{"AlterOwnerStmt", "alter_owner", C::kDdl},
    Row{"AlterPolicyStmt", "alter_policy", C::kDdl},
    Row{"AlterPublicationStmt", "alter_publication", C::kAdmin},
    Row{"AlterRoleSetStmt", "alter_role", C::kAdmin},
    Row{"AlterRoleStmt", "alter_role", C::kAdmin},
    Row{"AlterSeqStmt", "alter_sequence", C::kDdl},
    Row{"AlterStatsStmt", "alter_stats", C::kDdl},
    Row{"AlterSubscriptionStmt", "alter_subscription", C::kAdmin},
    Row{"AlterSystemStmt", "alter_system", C::kAdmin},
    Row{"AlterTSConfigurationStmt", "alter_t_s_configuration", C::kDdl},
    Row{"AlterTSDictionaryStmt", "alter_t_s_dictionary", C::kDdl},
    Row{"AlterTableMoveAllStmt", "alter_table", C::kAdmin},
    Row{"AlterTableSpaceOptionsStmt", "alter_tablespace", C::kAdmin},
    Row{"AlterTableStmt", "alter_table", C::kDdl},
    Row{"AlterTypeStmt", "alter_type", C::kDdl},
    Row{"AlterUserMappingStmt", "alter_user_mapping", C::kAdmin},
    Row{"CallStmt", "call", C::kWrite},
    Row{"CheckPointStmt", "checkpoint", C::kAdmin},
    Row{"ClosePortalStmt", "close", C::kOther},
    Row{"ClusterStmt", "cluster", C::kAdmin},
    Row{"CommentStmt", "comment", C::kDdl},
    Row{"CompositeTypeStmt", "create_type", C::kDdl},
    Row{"ConstraintsSetStmt", "set_constraints", C::kTransaction},
    Row{"CopyStmt", "copy", C::kWrite},
    Row{"CreateAmStmt", "create_access_method", C::kAdmin},
    Row{"CreateCastStmt", "create_cast", C::kDdl},
    Row{"CreateConversionStmt", "create_conversion", C::kDdl},
    Row{"CreateDomainStmt", "create_domain", C::kDdl},
    Row{"CreateEnumStmt", "create_type", C::kDdl},
    Row{"CreateEventTrigStmt", "create_event_trigger", C::kAdmin},
    Row{"CreateExtensionStmt", "create_extension", C::kAdmin},
    Row{"CreateFdwStmt", "create_foreign_data_wrapper", C::kAdmin},
    Row{"CreateForeignServerStmt", "create_server", C::kAdmin},
    Row{"CreateForeignTableStmt", "create_foreign_table", C::kDdl},
    Row{"CreateFunctionStmt", "create_function", C::kDdl},
    Row{"CreateOpClassStmt", "create_operator_class", C::kDdl},
    Row{"CreateOpFamilyStmt", "create_operator_family", C::kDdl},
    Row{"CreatePLangStmt", "create_language", C::kAdmin},
    Row{"CreatePolicyStmt", "create_policy", C::kDdl},
    Row{"CreatePublicationStmt", "create_publication", C::kAdmin},
    Row{"CreateRangeStmt", "create_type", C::kDdl},
    Row{"CreateRoleStmt", "create_role", C::kAdmin},
    Row{"CreateSchemaStmt", "create_schema", C::kDdl},
    Row{"CreateSeqStmt", "create_sequence", C::kDdl},
    Row{"CreateStatsStmt", "create_statistics", C::kDdl},
    Row{"CreateStmt", "create_table", C::kDdl},
    Row{"CreateSubscriptionStmt", "create_subscription", C::kAdmin},
    Row{"CreateTableAsStmt", "create_table_as", C::kDdl},
    Row{"CreateTableSpaceStmt", "create_tablespace", C::kAdmin},
    Row{"CreateTransformStmt", "create_transform", C::kDdl},
    Row{"CreateTrigStmt", "create_trigger", C::kDdl},
    Row{"CreateUserMappingStmt", "create_user_mapping", C::kAdmin},
    Row{"CreatedbStmt", "create_database", C::kAdmin},
    Row{"DeallocateStmt", "deallocate", C::kOther},
    Row{"DeclareCursorStmt", "declare_cursor", C::kRead},
    Row{"DefineStmt", "create_object", C::kDdl},
    Row{"DeleteStmt", "delete", C::kWrite},
    Row{"DiscardStmt", "discard", C::kOther},
    Row{"DoStmt", "do", C::kAdmin},
    Row{"DropOwnedStmt", "drop_owned", C::kAdmin},
    Row{"DropRoleStmt", "drop_role", C::kAdmin},
    Row{"DropStmt", "drop", C::kDdl},
    Row{"DropSubscriptionStmt", "drop_subscription", C::kAdmin},
    Row{"DropTableSpaceStmt", "drop_tablespace", C::kAdmin},
    Row{"DropUserMappingStmt", "drop_user_mapping", C::kAdmin},
    Row{"DropdbStmt", "drop_database", C::kAdmin},
    Row{"ExecuteStmt", "execute", C::kOther},
    Row{"ExplainStmt", "explain", C::kRead},
    Row{"FetchStmt", "fetch", C::kRead},
    Row{"GrantRoleStmt", "grant_role", C::kAdmin},
    Row{"GrantStmt", "grant", C::kDdl},
    Row{"ImportForeignSchemaStmt", "import_foreign_schema", C::kAdmin},
    Row{"IndexStmt", "create_index", C::kDdl},
    Row{"InsertStmt", "insert", C::kWrite},
    Row{"ListenStmt", "listen", C::kOther},
    Row{"LoadStmt", "load", C::kAdmin},
    Row{"LockStmt", "lock", C::kWrite},
    Row{"MergeStmt", "merge", C::kWrite},
    Row{"NotifyStmt", "notify", C::kOther},
    Row{"PrepareStmt", "prepare", C::kOther},
    Row{"ReassignOwnedStmt", "reassign_owned", C::kAdmin},
    Row{"RefreshMatViewStmt", "refresh_materialized_view", C::kDdl},
    Row{"ReindexStmt", "reindex", C::kAdmin},
    Row{"RenameStmt", "rename", C::kDdl},
    Row{"ReplicaIdentityStmt", "alter_table", C::kDdl},
    // RETURN of a SQL-standard function body (CREATE FUNCTION ... RETURN expr): an expression.
    Row{"ReturnStmt", "return", C::kRead},
    Row{"RuleStmt", "create_rule", C::kDdl},
    Row{"SecLabelStmt", "security_label", C::kAdmin},
    Row{"SelectStmt", "select", C::kRead},
    Row{"TransactionStmt", "transaction", C::kTransaction},
    Row{"TruncateStmt", "truncate", C::kDdl},
    Row{"UnlistenStmt", "unlisten", C::kOther},
    Row{"UpdateStmt", "update", C::kWrite},
    Row{"VacuumStmt", "vacuum", C::kAdmin},
    Row{"VariableSetStmt", "set", C::kOther},
    Row{"VariableShowStmt", "show", C::kRead},
    Row{"ViewStmt", "create_view", C::kDdl},
};

static_assert(std::is_sorted(kRows.begin(), kRows.end(),
                             [](const Row& a, const Row& b) { return a.node < b.node; }),
              "kRows must be sorted by node name");

// Types the tree walker gives instead of the table's (tree_walker.cc), and the types of
// transaction statements (transactionKind()).
constexpr std::string_view kRefinedTypes[] = {
    "analyze", "create_materialized_view", "move", "reset", "revoke", "revoke_role", "select_into",
    "set_transaction", "unknown",
    // transactionKind()
    "begin", "commit", "rollback", "savepoint", "release", "rollback_to", "prepare_transaction",
    "commit_prepared", "rollback_prepared", "transaction"};

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "AlterFooBarStmt" -> "alter_foo_bar".
std::string snakeCase(std::string_view node) {
  if (node.size() > 4 && node.substr(node.size() - 4) == "Stmt") {
    node.remove_suffix(4);
  }
  std::string out;
  for (char c : node) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

constexpr std::array<std::string_view, 47> kDangerous = {
    // Server files and directories.
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_ls_logdir",
    "pg_ls_waldir",
    "pg_ls_tmpdir",
    "pg_ls_archive_statusdir",
    "pg_ls_logicalmapdir",
    "pg_ls_logicalsnapdir",
    "pg_ls_replslotdir",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_file_sync",
    "pg_logdir_ls",
    // Large objects to and from server files.
    "lo_import",
    "lo_export",
    // Other backends, configuration, logging.
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "set_config",
    "pg_log_backend_memory_contexts",
    "pg_stat_reset",
    "pg_stat_reset_shared",
    "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters",
    "pg_stat_reset_slru",
    "pg_stat_reset_replication_slot",
    // WAL, backup, replication.
    "pg_promote",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    "pg_replication_origin_create",
    "pg_logical_emit_message",
    "pg_wal_replay_pause",
    "pg_wal_replay_resume",
    // SQL given as text, run by the function (escapes statement analysis); those that return
    // the rows are kRowReaders.
    "query_to_xmlschema",
    // NOTIFY by function: the payload reaches other sessions' listeners unmasked.
    "pg_notify",
    "pg_import_system_collations",
};

// Functions that read rows themselves, from SQL given as text or from tables, schemas and
// databases named by a string (invisible as relations), and return them. All dangerous.
constexpr std::array<std::string_view, 10> kRowReaders = {
    "query_to_xml",    "query_to_xml_and_xmlschema",
    "ts_stat",
    "ts_rewrite",  // its two-argument form runs SELECT target, substitute ... given as text
    "table_to_xml",    "table_to_xml_and_xmlschema",
    "schema_to_xml",   "schema_to_xml_and_xmlschema",
    "database_to_xml", "database_to_xml_and_xmlschema",
};

constexpr std::array<std::string_view, 6> kMoreDangerous = {
    // Schemas of tables/schemas/databases named by a string.
    "table_to_xmlschema",
    "schema_to_xmlschema",
    "database_to_xmlschema",
    // More replication control.
    "pg_replication_origin_drop",
    "pg_replication_origin_session_setup",
    "pg_replication_slot_advance",
};

constexpr std::array<std::string_view, 10> kWriting = {
    "nextval",   "setval", "lo_from_bytea", "lo_create",   "lo_creat",
    "lo_unlink", "lo_put", "lowrite",       "lo_truncate", "lo_truncate64",
};

// True when `lower` is one of `list`'s names.
template <size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view lower) {
  return std::find(list.begin(), list.end(), lower) != list.end();
}

}  // namespace

std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

StatementKind statementKind(std::string_view node, std::string* derived_type) {
  size_t lo = 0;
  size_t hi = kRows.size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (kRows[mid].node < node) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < kRows.size() && kRows[lo].node == node) return {kRows[lo].type, kRows[lo].cls};
  *derived_type = snakeCase(node);
  const bool ddl = startsWith(node, "Create") || startsWith(node, "Alter") ||
                   startsWith(node, "Drop") || startsWith(node, "Define");
  return {*derived_type, ddl ? C::kDdl : C::kAdmin};
}

const std::vector<std::string_view>& statementTypes() {
  static const std::vector<std::string_view> types = [] {
    std::vector<std::string_view> all(std::begin(kRefinedTypes), std::end(kRefinedTypes));
    for (const Row& r : kRows) all.push_back(r.type);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
  }();
  return types;
}

bool isStatementType(std::string_view type) {
  const auto& types = statementTypes();
  return std::binary_search(types.begin(), types.end(), type);
}

StatementClass transactionKind(std::string_view kind, std::string* type) {
  struct TxRow {
    std::string_view kind, type;
    StatementClass cls;
  };
  static constexpr TxRow kTxRows[] = {
      {"TRANS_STMT_BEGIN", "begin", C::kTransaction},
      {"TRANS_STMT_START", "begin", C::kTransaction},
      {"TRANS_STMT_COMMIT", "commit", C::kTransaction},
      {"TRANS_STMT_ROLLBACK", "rollback", C::kTransaction},
      {"TRANS_STMT_SAVEPOINT", "savepoint", C::kTransaction},
      {"TRANS_STMT_RELEASE", "release", C::kTransaction},
      {"TRANS_STMT_ROLLBACK_TO", "rollback_to", C::kTransaction},
      {"TRANS_STMT_PREPARE", "prepare_transaction", C::kAdmin},
      {"TRANS_STMT_COMMIT_PREPARED", "commit_prepared", C::kAdmin},
      {"TRANS_STMT_ROLLBACK_PREPARED", "rollback_prepared", C::kAdmin},
  };
  for (const TxRow& r : kTxRows) {
    if (r.kind == kind) {
      *type = std::string(r.type);
      return r.cls;
    }
  }
  *type = "transaction";
  return C::kAdmin;
}

bool isDangerousFunction(std::string_view name) {
  const std::string lower = asciiLower(name);
  return startsWith(lower, "dblink") || listed(kDangerous, lower) ||
         listed(kMoreDangerous, lower) || listed(kRowReaders, lower);
}

bool readsRowsItself(std::string_view name) {
  const std::string lower = asciiLower(name);
  // cursor_to_xml: the rows of a cursor the session declared.
  return lower == "cursor_to_xml" || listed(kRowReaders, lower);
}

bool isWritingFunction(std::string_view name) { return listed(kWriting, asciiLower(name)); }

bool storesArguments(std::string_view name) {
  const std::string lower = asciiLower(name);
  return listed(kWriting, lower) || lower == "pg_notify";
}

bool isAsciiEmbeddingEncoding(std::string_view name) {
  // As PostgreSQL reads an encoding name (clean_encoding_name): letters and digits only, so
  // 'S.JIS' and 'sjis_' are SJIS too.
  std::string e;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      e.push_back(static_cast<char>(c - 'a' + 'A'));
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      e.push_back(c);
    }
  }
  for (std::string_view bad :
       {"SJIS", "SHIFTJIS", "SHIFTJIS2004", "MSKANJI", "BIG5", "GBK", "CP936", "WIN936", "UHC",
        "WIN949", "CP949", "GB18030", "JOHAB", "WIN950", "CP950", "WIN932", "CP932"}) {
    if (e == bad) return true;
  }
  return false;
}

bool isReadOnlySetting(std::string_view name) {
  const std::string lower = asciiLower(name);
  return lower == "default_transaction_read_only" || lower == "transaction_read_only";
}

bool isTrueWord(std::string_view value) {
  const std::string lower = asciiLower(value);
  return lower == "on" || lower == "true" || lower == "yes" || lower == "1";
}

bool isOrdinarySetting(std::string_view name) {
  return !name.empty() && name.find('.') == std::string_view::npos && !isPrivilegedSetting(name);
}

bool isPrivilegedSetting(std::string_view name) {
  const std::string lower = asciiLower(name);
  if (lower == "role" || lower == "session_authorization" || lower == "session_replication_role") {
    return true;
  }
  // What the server logs and tracks about the session (log_statement, debug_print_*,
  // track_activities), and code it loads into it.
  for (std::string_view prefix : {"log_", "debug_", "track_"}) {
    if (startsWith(lower, prefix)) return true;
  }
  return lower == "session_preload_libraries" || lower == "local_preload_libraries";
}

}  // namespace tollgate::policy::sql
