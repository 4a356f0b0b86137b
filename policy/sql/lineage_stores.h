// What write statements store (OutputLineage::stored), for masking.copies: the write half of
// the lineage walker; and the names a statement defines (its renames). Internal to policy/sql.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>
#include <vector>

#include "policy/sql/lineage.h"

namespace tollgate::policy::sql {

// The lineage walker's reading of expressions and queries, as the write half needs it.
class LineageReader {
 public:
  // What an expression is made of (LineageWalker::expression); `row` reads it as a row whose
  // fields keep no names ((expr).*).
  virtual void readExpression(const nlohmann::json& v, ColumnLineage* out, bool row) = 0;
  // What the columns of a function in FROM carry: its call and arguments.
  virtual void readFromFunction(const nlohmann::json& functions, ColumnLineage* out) = 0;
  // The result columns of a SELECT body (plain, VALUES, or a set operation).
  virtual void readSelect(const nlohmann::json& body, std::vector<ColumnLineage>* head,
                          std::vector<ColumnLineage>* tail, bool* star) = 0;
  // `c` naming a FROM item (its row), and a sub-select's or CTE's name.
  virtual bool rowReference(const nlohmann::json& arg) const = 0;
  virtual bool subselectName(std::string_view name) const = 0;

 protected:
  ~LineageReader() = default;
};

// Adds to out->stored (and stores_star, stores_parameters) what every write anywhere in
// `stmt` stores.
void collectStores(const nlohmann::json& stmt, LineageReader& reader, OutputLineage* out);

// Adds to out->renames every name `stmt` defines anywhere (lineage_renames.cc).
void collectRenames(const nlohmann::json& stmt, LineageReader& reader, OutputLineage* out);

// What `SET name = val` assigns. In `SET (a, b) = (x, y)` and `SET (a, b) = (SELECT x, y ...)`
// each target gets its own element (MultiAssignRef colno); from anything else (a row-valued
// function, a sub-select with `*`) every element may be any of it.
void assignedValue(const nlohmann::json& val, LineageReader& reader, ColumnLineage* out);

}  // namespace tollgate::policy::sql
