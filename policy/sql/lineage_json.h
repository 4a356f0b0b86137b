// Parse-tree helpers shared by the lineage walker (lineage_walker.cc), its write half
// (lineage_stores.cc) and its renames (lineage_renames.cc). Internal to policy/sql.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string_view>

#include "policy/sql/json_fields.h"
#include "policy/sql/options.h"

namespace tollgate::policy::sql {

using json = nlohmann::json;

inline constexpr int kLineageMaxDepth = 2000;  // JSON levels followed, as in the fact walker

inline std::string_view lastName(const json& fields, bool* star) {
  if (!fields.is_array() || fields.empty()) return {};
  if (field(fields.back(), "A_Star") != nullptr) {
    *star = true;
    return {};
  }
  const json* s = field(fields.back(), "String");
  return s == nullptr ? std::string_view() : str(*s, "sval");
}

// The last name of a name list (funcname, an operator, a type name), "" for none or `*`.
inline std::string_view lastString(const json* names) {
  bool star = false;
  return names == nullptr ? std::string_view() : lastName(*names, &star);
}

// Calls visit(key, value, depth) for every object member anywhere under `v`, depth first, and
// descends into the member's value when visit returns true.
template <typename Visit>
void walkMembers(const json& v, int depth, const Visit& visit) {
  if (depth > kLineageMaxDepth) return;
  if (v.is_array()) {
    for (const json& e : v) {
      if (e.is_structured()) walkMembers(e, depth + 1, visit);
    }
    return;
  }
  if (!v.is_object()) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (visit(it.key(), it.value(), depth) && it.value().is_structured()) {
      walkMembers(it.value(), depth + 1, visit);
    }
  }
}

// The name a function in FROM goes by without an alias: its own (`SELECT f.code FROM f()`).
// Only a single function has one (not ROWS FROM (f(), g())).
inline std::string_view implicitAlias(const json& range_function) {
  if (field(range_function, "alias") != nullptr) return {};
  const json* fns = field(range_function, "functions");
  if (fns == nullptr || !fns->is_array() || fns->size() != 1) return {};
  const json* list = field(fns->front(), "List");
  const json* items = list == nullptr ? nullptr : field(*list, "items");
  if (items == nullptr || !items->is_array() || items->empty()) return {};
  const json* call = field(items->front(), "FuncCall");
  return call == nullptr ? std::string_view() : lastString(field(*call, "funcname"));
}

// The items of a SELECT body that is a VALUES list of one row (VALUES (a, NEW.*)), or null.
inline const json* oneRowValues(const json& body) {
  const json* values = field(body, "valuesLists");
  if (values == nullptr || !values->is_array() || values->size() != 1) return nullptr;
  const json* list = field(values->front(), "List");
  const json* items = list == nullptr ? nullptr : field(*list, "items");
  return items != nullptr && items->is_array() ? items : nullptr;
}

// `*`, `t.*`, `(expr).*` at the top of a target list (or of a VALUES row) expand to several
// columns.
inline bool isStarExpansion(const json& val) {
  if (const json* ref = field(val, "ColumnRef")) {
    bool star = false;
    const json* fields = field(*ref, "fields");
    if (fields != nullptr) lastName(*fields, &star);
    return star;
  }
  if (const json* ind = field(val, "A_Indirection")) {
    const json* list = field(*ind, "indirection");
    return list != nullptr && list->is_array() && !list->empty() &&
           field(list->back(), "A_Star") != nullptr;
  }
  return false;
}

// Whether a list of expressions (a VALUES row, ROW(...)'s arguments) has an item PostgreSQL
// expands to several columns (`x.*`, `(expr).*`): past it, items are not at their positions.
inline bool anyStarExpansion(const json& items) {
  return items.is_array() &&
         std::any_of(items.begin(), items.end(), [](const json& i) { return isStarExpansion(i); });
}

// EXPLAIN runs its statement only with ANALYZE (the grammar spells it so), read as the tree
// walker reads it: any ANALYZE option that is not false.
inline bool explainRuns(const json& explain) {
  const json* options = field(explain, "options");
  if (options == nullptr || !options->is_array()) return false;
  return std::any_of(options->begin(), options->end(), [](const json& o) {
    const json* d = field(o, "DefElem");
    return d != nullptr && str(*d, "defname") == "analyze" && optionTrue(*d);
  });
}

}  // namespace tollgate::policy::sql
