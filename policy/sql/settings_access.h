// How a statement reaches run-time settings without SET: the pg_settings view (a SELECT of one
// of its rows, an UPDATE of it) and set_config(). Read by the tree walker (tree_walker.cc),
// which keeps the scope: `cte_named_pg_settings` says a CTE of that name is in scope (it
// shadows the unqualified view), `settings_row` what a `name` column stands for there
// (settingsRowName() of the enclosing SELECT).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tollgate::policy::sql {

// The pg_settings catalog view: a RangeVar node, or a statement's bare RangeVar field.
bool isSettingsView(const nlohmann::json* relation, bool cte_named_pg_settings);

// "SELECT ... FROM pg_settings WHERE name = 'x'" (how pg_dump sets a setting only where the
// server has it): the lower-cased 'x' that a `name` column in this SELECT stands for, or "".
std::string settingsRowName(const nlohmann::json& select, bool cte_named_pg_settings);

// The setting set_config(args) changes: its constant first argument, or the pg_settings row a
// `name` column stands for; "" when it cannot be read.
std::string setConfigName(const nlohmann::json& args, const std::string& settings_row);

// set_config(name, value, is_local) with a constant name that a read or write role may SET:
// not a privilege change, not a custom (dotted) setting, which may steer row-level security,
// and not standard_conforming_strings, which would change how later statements are lexed; the
// read-only settings only turned on. The value must come from the client (a constant or a
// parameter): a value read from the data would come back unmasked, in the ParameterStatus the
// server sends for application_name and through current_setting().
bool harmlessSetConfig(const nlohmann::json* args, const std::string& settings_row);

// set_config('client_encoding', v, ...), or with a name that cannot be read, may change
// client_encoding: the value sets_client_encoding gets (v, empty when not a constant); nullopt
// when it changes another setting.
std::optional<std::string> setConfigEncoding(const nlohmann::json* args,
                                             const std::string& settings_row);

}  // namespace tollgate::policy::sql
