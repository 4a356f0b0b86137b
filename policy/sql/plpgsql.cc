// PL/pgSQL body extraction through pg_query_parse_plpgsql.
#include "policy/sql/plpgsql.h"

#include <pg_query.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "policy/sql/json_fields.h"

namespace tollgate::policy::sql {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 400;

// The value of an assignment's text (`NEW.note := expr`, `NEW.note = expr`): what follows the
// `:=` or `=` after a target made of names, dots and double-quoted names only. nullopt for any
// other target (a subscript, a comment), whose end the sidecar does not find for sure.
std::optional<std::string_view> assignedValue(std::string_view text) {
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"') {
      quoted = !quoted;
    } else if (quoted) {
      continue;
    } else if (text.substr(i, 2) == ":=") {
      return text.substr(i + 2);
    } else if (c == '=') {
      return text.substr(i + 1);
    } else if (!(std::isalnum(c) || c == '_' || c == '$' || c == '.' || c >= 0x80 ||
                 std::isspace(c))) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// The text of the PL/pgSQL expression at `key` of `stmt`, or nullopt.
std::optional<std::string_view> exprText(const json& stmt, const char* key) {
  const json* expr = field(stmt, key);
  const json* e = expr == nullptr ? nullptr : field(*expr, "PLpgSQL_expr");
  if (e == nullptr) return std::nullopt;
  return str(*e, "query");
}

// NEW's variable number and the function's variables (datums), to tell a store into NEW.
struct NewRow {
  int varno = -1;
  int old_varno = -1;
  const json* datums = nullptr;
  std::vector<NewRowStore>* out = nullptr;
};

int intField(const json& o, const char* key) {
  const json* f = field(o, key);
  return f != nullptr && f->is_number_integer() ? f->get<int>() : -1;
}

// Variable `n` as a field of record `rec` (its name; "" for the record itself), or nullopt.
std::optional<std::string> recordField(int n, int rec, const NewRow& row) {
  if (n < 0 || rec < 0 || row.datums == nullptr) return std::nullopt;
  if (n == rec) return std::string();
  if (static_cast<size_t>(n) >= row.datums->size()) return std::nullopt;
  const json* rf = field((*row.datums)[n], "PLpgSQL_recfield");
  if (rf == nullptr || intField(*rf, "recparentno") != rec) return std::nullopt;
  const json* name = field(*rf, "fieldname");
  if (name == nullptr || !name->is_string()) return std::nullopt;
  return name->get<std::string>();
}

// Variable `n` as NEW's field (its name; "" for NEW itself), or nullopt. OLD written to may
// become the row stored (NEW := OLD, RETURN OLD): as NEW itself, with a value not followed.
std::optional<std::string> newRowField(int n, const NewRow& row, bool* unknown = nullptr) {
  if (std::optional<std::string> f = recordField(n, row.varno, row)) return f;
  if (unknown == nullptr || !recordField(n, row.old_varno, row)) return std::nullopt;
  *unknown = true;
  return std::string();
}

// Adds the stores into NEW of a statement whose results go to `target` (INTO, FOR ... IN): a
// record variable (PLpgSQL_rec) or a list of variables (PLpgSQL_row), by position.
void addTargetStores(const json& target, std::string_view query, const NewRow& row) {
  if (const json* rec = field(target, "PLpgSQL_rec")) {
    const int dno = intField(*rec, "dno");
    if (dno == row.varno) row.out->push_back({"", std::string(query), 0, false});
    if (dno == row.old_varno && dno >= 0) row.out->push_back({"", "", 0, true});
    return;
  }
  const json* r = field(target, "PLpgSQL_row");
  const json* fields = r == nullptr ? nullptr : field(*r, "fields");
  if (fields == nullptr || !fields->is_array()) return;
  for (size_t i = 0; i < fields->size(); ++i) {
    bool unknown = false;
    std::optional<std::string> f = newRowField(intField((*fields)[i], "varno"), row, &unknown);
    if (!f) continue;
    unknown = unknown || f->empty();  // NEW among other variables: not followed
    row.out->push_back({std::move(*f), std::string(query), i, unknown});
  }
}

// The stores into NEW of statement `kind` (a PLpgSQL_stmt_* node's key).
void addNewRowStores(std::string_view kind, const json& stmt, const NewRow& row) {
  if (kind == "PLpgSQL_stmt_assign") {
    const std::optional<std::string_view> text = exprText(stmt, "expr");
    bool unknown = false;
    std::optional<std::string> target = newRowField(intField(stmt, "varno"), row, &unknown);
    if (!target || !text) return;
    // PL/pgSQL reads `target := <select list> [FROM ...]`: a SELECT of what follows.
    const std::optional<std::string_view> value = assignedValue(*text);
    if (!value || unknown) {
      row.out->push_back({std::move(*target), "", 0, true});
    } else {
      row.out->push_back({std::move(*target), "SELECT " + std::string(*value) + "\n", 0, false});
    }
  } else if (kind == "PLpgSQL_stmt_execsql" || kind == "PLpgSQL_stmt_fors") {
    const json* target = field(stmt, kind == "PLpgSQL_stmt_fors" ? "var" : "target");
    const std::optional<std::string_view> query =
        exprText(stmt, kind == "PLpgSQL_stmt_fors" ? "query" : "sqlstmt");
    if (target != nullptr && query) addTargetStores(*target, *query, row);
  } else if (kind == "PLpgSQL_stmt_getdiag") {
    const json* items = field(stmt, "diag_items");
    if (items == nullptr || !items->is_array()) return;
    for (const json& item : *items) {
      const json* d = field(item, "PLpgSQL_diag_item");
      // Counts carry no data; messages and contexts may quote any.
      const std::string_view what = d == nullptr ? "" : str(*d, "kind");
      if (what == "ROW_COUNT" || what == "RESULT_OID") continue;
      bool unknown = false;
      std::optional<std::string> f =
          d == nullptr ? std::nullopt : newRowField(intField(*d, "target"), row, &unknown);
      if (f) row.out->push_back({std::move(*f), "", 0, true});
    }
  } else if (kind == "PLpgSQL_stmt_foreach_a") {
    // FOREACH NEW.note IN ARRAY ...: the last element stays.
    bool unknown = false;
    if (std::optional<std::string> f = newRowField(intField(stmt, "varno"), row, &unknown)) {
      row.out->push_back({std::move(*f), "", 0, true});
    }
  } else if (kind == "PLpgSQL_stmt_return" && row.varno >= 0) {
    // A BEFORE trigger's row is what it returns: another row than NEW, OLD or NULL may hold
    // anything (RETURN r, RETURN (SELECT ...)).
    const std::string_view text = exprText(stmt, "expr").value_or("null");
    const std::string returned = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
    if (returned != "new" && returned != "old" && returned != "null" && !returned.empty()) {
      row.out->push_back({"", "", 0, true});
    }
  }
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
    if (row.out != nullptr && it.key().starts_with("PLpgSQL_stmt_")) {
      addNewRowStores(it.key(), it.value(), row);
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
                    std::vector<NewRowStore>* new_row) {
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
        row = NewRow{intField(*f, "new_varno"), intField(*f, "old_varno"), datums, new_row};
      }
    }
    if (ok) collect(tree, 0, queries, dynamic, row);
  }
  pg_query_free_plpgsql_parse_result(result);
  return ok;
}

}  // namespace tollgate::policy::sql
