// pg_settings and set_config() as the tree walker reads them (see settings_access.h).
#include "policy/sql/settings_access.h"

#include "policy/sql/json_fields.h"
#include "policy/sql/options.h"
#include "policy/sql/statement_table.h"

namespace tollgate::policy::sql {

using nlohmann::json;

namespace {

// A ColumnRef `name` (the pg_settings column).
bool isNameColumn(const json& v) {
  const json* ref = field(v, "ColumnRef");
  const json* fields = ref == nullptr ? nullptr : field(*ref, "fields");
  if (fields == nullptr || !fields->is_array() || fields->size() != 1) return false;
  const json* s = field((*fields)[0], "String");
  return s != nullptr && str(*s, "sval") == "name";
}

}  // namespace

bool isSettingsView(const json* relation, bool cte_named_pg_settings) {
  if (relation == nullptr) return false;
  const json* node = field(*relation, "RangeVar");
  const json* rv = node != nullptr ? node : relation;
  if (str(*rv, "relname") != "pg_settings") return false;
  const std::string_view schema = str(*rv, "schemaname");
  if (!schema.empty()) return schema == "pg_catalog";
  return !cte_named_pg_settings;
}

std::string settingsRowName(const json& select, bool cte_named_pg_settings) {
  const json* from = field(select, "fromClause");
  if (from == nullptr || !from->is_array() || from->size() != 1) return {};
  if (!isSettingsView(&(*from)[0], cte_named_pg_settings)) return {};
  const json* where = field(select, "whereClause");
  const json* expr = where == nullptr ? nullptr : field(*where, "A_Expr");
  if (expr == nullptr || str(*expr, "kind") != "AEXPR_OP") return {};
  const json* op = field(*expr, "name");
  if (op == nullptr || !op->is_array() || op->size() != 1) return {};
  const json* op_name = field((*op)[0], "String");
  if (op_name == nullptr || str(*op_name, "sval") != "=") return {};
  const json* left = field(*expr, "lexpr");
  const json* right = field(*expr, "rexpr");
  if (left == nullptr || right == nullptr || !isNameColumn(*left)) return {};
  return constantString(*right);
}

std::string setConfigName(const json& args, const std::string& settings_row) {
  const json& first = args[0];
  return isNameColumn(first) ? settings_row : constantString(first);
}

bool harmlessSetConfig(const json* args, const std::string& settings_row) {
  if (args == nullptr || !args->is_array() || args->size() != 3) return false;
  const std::string name = setConfigName(*args, settings_row);
  if (isReadOnlySetting(name)) return isTrueWord(constantValue((*args)[1]));
  return isOrdinarySetting(name) && name != "standard_conforming_strings" &&
         isClientValue((*args)[1]);
}

std::optional<std::string> setConfigEncoding(const json* args, const std::string& settings_row) {
  if (args == nullptr || !args->is_array() || args->size() != 3) return std::string();
  const std::string name = setConfigName(*args, settings_row);
  if (name.empty()) return std::string();
  if (name == "client_encoding") return constantValue((*args)[1]);
  return std::nullopt;
}

}  // namespace tollgate::policy::sql
