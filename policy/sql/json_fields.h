// Non-throwing accessors for libpg_query's JSON parse tree.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace tollgate::policy::sql {

// Member `key` of object `o`, or nullptr.
inline const nlohmann::json* field(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}
inline std::string_view str(const nlohmann::json& o, const char* key) {
  const nlohmann::json* f = field(o, key);
  if (f == nullptr || !f->is_string()) return {};
  return f->get_ref<const std::string&>();
}
inline bool flag(const nlohmann::json& o, const char* key) {
  const nlohmann::json* f = field(o, key);
  return f != nullptr && f->is_boolean() && f->get<bool>();
}
// The single member of a node wrapper {"Kind": {...}}.
inline bool unwrap(const nlohmann::json& node, std::string_view* kind,
                   const nlohmann::json** body) {
  if (!node.is_object() || node.size() != 1) return false;
  auto it = node.begin();
  *kind = it.key();
  *body = &it.value();
  return true;
}
// The INTO clause of a SelectStmt body (SELECT ... INTO t). The grammar leaves it on the
// leftmost arm of a set operation: `SELECT a INTO t FROM x UNION SELECT b FROM y` creates t
// from the whole union.
inline const nlohmann::json* selectInto(const nlohmann::json& select) {
  const nlohmann::json* s = &select;
  for (int depth = 0; depth < 10000 && s != nullptr; ++depth) {
    if (const nlohmann::json* into = field(*s, "intoClause")) return into;
    const std::string_view op = str(*s, "op");
    if (op.empty() || op == "SETOP_NONE") return nullptr;
    s = field(*s, "larg");
  }
  return nullptr;
}
// A list of {"String":{"sval":..}} nodes joined with '.'.
inline std::string dottedName(const nlohmann::json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const nlohmann::json& item : list) {
    const nlohmann::json* s = field(item, "String");
    if (s == nullptr) continue;
    if (!out.empty()) out.push_back('.');
    out.append(str(*s, "sval"));
  }
  return out;
}

}  // namespace tollgate::policy::sql
