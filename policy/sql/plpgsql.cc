// PL/pgSQL body extraction through pg_query_parse_plpgsql.
#include "policy/sql/plpgsql.h"

#include <pg_query.h>

#include <nlohmann/json.hpp>

namespace tollgate::policy::sql {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 400;

// Collects PLpgSQL_expr queries; the tree is walked with an explicit depth bound, past which
// the body counts as dynamic: what it runs is not all seen.
void collect(const json& v, int depth, std::vector<std::string>* queries, bool* dynamic) {
  if (depth > kMaxDepth) {
    *dynamic = true;
    return;
  }
  if (v.is_array()) {
    for (const json& e : v) collect(e, depth + 1, queries, dynamic);
    return;
  }
  if (!v.is_object()) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    // EXECUTE, FOR ... IN EXECUTE, and RETURN QUERY EXECUTE / OPEN ... FOR EXECUTE (dynquery).
    if (it.key() == "PLpgSQL_stmt_dynexecute" || it.key() == "PLpgSQL_stmt_dynfors" ||
        it.key() == "dynquery") {
      *dynamic = true;
    }
    if (it.key() == "PLpgSQL_expr" && it.value().is_object()) {
      auto q = it.value().find("query");
      if (q != it.value().end() && q->is_string()) queries->push_back(q->get<std::string>());
    }
    if (it.value().is_structured()) collect(it.value(), depth + 1, queries, dynamic);
  }
}

}  // namespace

bool plpgsqlQueries(std::string_view body, std::vector<std::string>* queries, bool* dynamic) {
  return plpgsqlQueries(body, "() RETURNS void", queries, dynamic);
}

bool plpgsqlQueries(std::string_view body, std::string_view signature,
                    std::vector<std::string>* queries, bool* dynamic) {
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
    if (ok) collect(tree, 0, queries, dynamic);
  }
  pg_query_free_plpgsql_parse_result(result);
  return ok;
}

}  // namespace tollgate::policy::sql
