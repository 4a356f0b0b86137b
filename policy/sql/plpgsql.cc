// PL/pgSQL body extraction through pg_query_parse_plpgsql.
#include "policy/sql/plpgsql.h"

#include <pg_query.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "policy/sql/json_fields.h"

namespace tollgate::policy::sql {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 400;

// The value of an assignment's text (`NEW.note := expr`, `NEW.note = expr`): what follows the
// first `:=` or `=` outside double quotes. Empty when there is none.
std::string assignedValue(std::string_view text) {
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;
    if (quoted) continue;
    if (text.substr(i, 2) == ":=") return std::string(text.substr(i + 2));
    if (text[i] == '=') return std::string(text.substr(i + 1));
  }
  return "";
}

// NEW's variable number and the function's variables (datums), to tell an assignment to NEW.
struct NewRow {
  int varno = -1;
  const json* datums = nullptr;
  std::vector<NewRowAssignment>* out = nullptr;
};

int intField(const json& o, const char* key) {
  const json* f = field(o, key);
  return f != nullptr && f->is_number_integer() ? f->get<int>() : -1;
}

// An assignment's target as NEW's field (its name; "" for NEW itself), or nullopt.
std::optional<std::string> newRowField(const json& assign, const NewRow& row) {
  const int n = intField(assign, "varno");
  if (n < 0 || row.datums == nullptr) return std::nullopt;
  if (n == row.varno) return std::string();
  if (static_cast<size_t>(n) >= row.datums->size()) return std::nullopt;
  const json* rf = field((*row.datums)[n], "PLpgSQL_recfield");
  if (rf == nullptr || intField(*rf, "recparentno") != row.varno) return std::nullopt;
  const json* name = field(*rf, "fieldname");
  if (name == nullptr || !name->is_string()) return std::nullopt;
  return name->get<std::string>();
}

// Collects PLpgSQL_expr queries; the tree is walked with an explicit depth bound, past which
// the body counts as dynamic: what it runs is not all seen.
void collect(const json& v, int depth, std::vector<std::string>* queries, bool* dynamic,
             const NewRow& row) {
  if (depth > kMaxDepth) {
    *dynamic = true;
    return;
  }
  if (v.is_array()) {
    for (const json& e : v) collect(e, depth + 1, queries, dynamic, row);
    return;
  }
  if (!v.is_object()) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() == "PLpgSQL_stmt_assign" && row.out != nullptr) {
      const json* expr = field(it.value(), "expr");
      const json* query = expr == nullptr ? nullptr : field(*expr, "PLpgSQL_expr");
      std::optional<std::string> target = newRowField(it.value(), row);
      if (target && query != nullptr) {
        row.out->push_back(
            NewRowAssignment{std::move(*target), assignedValue(str(*query, "query"))});
      }
    }
    // EXECUTE, FOR ... IN EXECUTE, and RETURN QUERY EXECUTE / OPEN ... FOR EXECUTE (dynquery).
    if (it.key() == "PLpgSQL_stmt_dynexecute" || it.key() == "PLpgSQL_stmt_dynfors" ||
        it.key() == "dynquery") {
      *dynamic = true;
    }
    if (it.key() == "PLpgSQL_expr" && it.value().is_object()) {
      auto q = it.value().find("query");
      if (q != it.value().end() && q->is_string()) queries->push_back(q->get<std::string>());
    }
    if (it.value().is_structured()) collect(it.value(), depth + 1, queries, dynamic, row);
  }
}

}  // namespace

bool plpgsqlQueries(std::string_view body, std::vector<std::string>* queries, bool* dynamic) {
  return plpgsqlQueries(body, "() RETURNS void", queries, dynamic);
}

bool plpgsqlQueries(std::string_view body, std::string_view signature,
                    std::vector<std::string>* queries, bool* dynamic,
                    std::vector<NewRowAssignment>* new_row) {
  // Wrap the body in a function definition with a dollar tag the body does not contain.
  std::string tag = "$tollgate_do$";
  for (int i = 0; body.find(tag) != std::string_view::npos; ++i) {
    tag = "$tollgate_do" + std::to_string(i) + "$";
  }
  std::string def = "CREATE FUNCTION tollgate_do";
  def.append(signature.data(), signature.size());
  def += " LANGUAGE plpgsql AS " + tag;
  def.append(body.data(), body.size());
  def += tag;
  PgQueryPlpgsqlParseResult result = pg_query_parse_plpgsql(def.c_str());
  bool ok = result.error == nullptr && result.plpgsql_funcs != nullptr;
  if (ok) {
    json tree = json::parse(result.plpgsql_funcs, nullptr, /*allow_exceptions=*/false);
    ok = !tree.is_discarded();
    NewRow row;
    if (ok && new_row != nullptr && tree.is_array() && tree.size() == 1) {
      // A trigger function's NEW (new_varno), and its variables.
      const json* f = field(tree[0], "PLpgSQL_function");
      const json* datums = f == nullptr ? nullptr : field(*f, "datums");
      if (datums != nullptr && datums->is_array()) {
        row = NewRow{intField(*f, "new_varno"), datums, new_row};
      }
    }
    if (ok) collect(tree, 0, queries, dynamic, row);
  }
  pg_query_free_plpgsql_parse_result(result);
  return ok;
}

}  // namespace tollgate::policy::sql
