// Walks libpg_query's JSON parse tree of one statement and collects its facts.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/facts.h"
#include "policy/sql/json_fields.h"

namespace tollgate::policy::sql {

struct WalkResult {
  // cls, type, reads, writes, functions, has_where, inner_types (not normalized/fingerprint).
  StatementFacts facts;
  // True when a fact was derived from a literal value (EXPLAIN option values, DO bodies and
  // languages, the value of SET standard_conforming_strings): such a statement must be cached
  // by its exact text, never by shape. Every other fact comes from identifiers and node
  // kinds only, never from A_Const values.
  bool literal_sensitive = false;
  // The tree nests deeper than the walker follows; the facts are incomplete.
  bool too_deep = false;
};

// Analyses one top-level statement node, e.g. {"SelectStmt": {...}} (the "stmt" member of an
// element of pg_query_parse's "stmts"). Never throws on any tree shape.
WalkResult walkStatement(const nlohmann::json& stmt);

// Whether `node` holds a parameter reference ($1) anywhere; true past the depth the lineage
// walker reads.
bool mentionsParameter(const nlohmann::json& node, int depth = 0);

// libpg_query's parse tree of `sql` ({"stmts": [...]}), discarded when it does not parse (its
// error is not kept: the analyser reports that itself).
nlohmann::json parseTree(std::string_view sql);

// The statement node of `tree` (a parseTree()) holding exactly one statement; null otherwise.
const nlohmann::json* onlyStatement(const nlohmann::json& tree);

// Calls visit(node) with each top-level statement node of `sql` ({"SelectStmt": {...}});
// false when it does not parse.
template <typename Visit>
bool forEachStatement(std::string_view sql, const Visit& visit) {
  const nlohmann::json tree = parseTree(sql);
  if (tree.is_discarded()) return false;
  const nlohmann::json* stmts = field(tree, "stmts");
  if (stmts != nullptr && stmts->is_array()) {
    for (const nlohmann::json& s : *stmts) {
      if (const nlohmann::json* node = field(s, "stmt")) visit(*node);
    }
  }
  return true;
}

// Result-column lineage of one top-level statement node (policy/sql/lineage.h). Like the facts,
// it comes from identifiers and node kinds only, so it is shared by statements of one shape.
// `variables`: names of PL/pgSQL variables, for a statement of a function's body; a qualified
// reference `r.f` to one of them also reads `r` (a record, whose fields the statement that
// filled it named).
OutputLineage outputLineage(const nlohmann::json& stmt,
                            const std::vector<std::string>* variables = nullptr);

}  // namespace tollgate::policy::sql
