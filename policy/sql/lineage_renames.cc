// The names a statement defines and what each is made of (OutputLineage::renames): `expr AS
// name`, column lists of INSERT, CTEs, sub-selects and aliases, functions in FROM, SEARCH and
// CYCLE columns. The renames half of the lineage walker (lineage_walker.cc).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/sql/json_fields.h"
#include "policy/sql/lineage.h"
#include "policy/sql/lineage_json.h"
#include "policy/sql/lineage_stores.h"

namespace tollgate::policy::sql {
namespace {

void addName(std::vector<std::string>* v, std::string_view name) { addLineageName(v, name); }

class RenameCollector {
 public:
  RenameCollector(LineageReader& reader, OutputLineage* out) : reader_(reader), out_(out) {}

  // Every rename anywhere in `v`.
  void collect(const json& v, int depth) {
    walkMembers(v, depth, [&](const std::string& key, const json& val, int /*at*/) {
      if (key == "InsertStmt") {
        // INSERT INTO t(a) SELECT cvv ... RETURNING a: a holds what the SELECT gave it.
        std::vector<std::string_view> cols;
        if (const json* list = field(val, "cols"); list != nullptr && list->is_array()) {
          for (const json& c : *list) {
            const json* rt = field(c, "ResTarget");
            cols.push_back(rt == nullptr ? std::string_view() : str(*rt, "name"));
          }
        }
        positional(cols, field(val, "selectStmt"));
      } else if (key == "ResTarget") {
        // `expr AS name` in a target list, `SET name = expr` in UPDATE / ON CONFLICT.
        const std::string_view name = str(val, "name");
        if (const json* e = field(val, "val"); e != nullptr && !name.empty()) {
          ColumnLineage c;
          assignedValue(*e, reader_, &c);
          out_->renames.emplace_back(std::string(name), std::move(c));
        }
      } else if (key == "CommonTableExpr") {
        positional(field(val, "aliascolnames"), field(val, "ctequery"));
        if (const json* q = field(val, "ctequery")) rowAlias(str(val, "ctename"), *q);
        // SEARCH ... SET ord and CYCLE ... USING path add columns holding the values of the
        // columns they list.
        searchColumn(field(val, "search_clause"), "search_col_list", "search_seq_column");
        searchColumn(field(val, "cycle_clause"), "cycle_col_list", "cycle_path_column");
      } else if (key == "RangeSubselect") {
        const json* alias = field(val, "alias");
        const json* q = field(val, "subquery");
        if (alias != nullptr) {
          positional(field(*alias, "colnames"), q);
          if (q != nullptr) rowAlias(str(*alias, "aliasname"), *q);
        }
      } else if (key == "RangeFunction") {
        // Columns of a function in FROM come from its arguments: unnest(array[cvv]) u.
        ColumnLineage args;
        if (const json* fns = field(val, "functions")) reader_.readFromFunction(*fns, &args);
        if (args.whole_row) args.reshaped = true;
        if (std::string_view name = implicitAlias(val); !name.empty()) {
          out_->renames.emplace_back(std::string(name), args);  // its row: SELECT f FROM f()
        }
        if (const json* alias = field(val, "alias")) {
          out_->renames.emplace_back(std::string(str(*alias, "aliasname")), args);
          if (const json* cols = field(*alias, "colnames"); cols != nullptr && cols->is_array()) {
            for (const json& c : *cols) {
              if (const json* s = field(c, "String")) {
                out_->renames.emplace_back(std::string(str(*s, "sval")), args);
              }
            }
          }
        }
      } else if (key == "RangeVar" || key == "JoinExpr") {
        // cards c(a, b), (cards JOIN x ON ...) AS j(a, b): which column each new name is needs
        // the catalog: any of them, and as a JSON field name it tells nothing.
        const json* alias = field(val, "alias");
        const json* cols = alias == nullptr ? nullptr : field(*alias, "colnames");
        if (cols != nullptr && cols->is_array()) {
          for (const json& c : *cols) {
            if (const json* s = field(c, "String")) {
              out_->renames.emplace_back(std::string(str(*s, "sval")),
                                         ColumnLineage{{}, /*whole_row=*/true, /*reshaped=*/true});
            }
          }
        }
      }
      return true;
    });
  }

 private:
  void searchColumn(const json* clause, const char* list, const char* column) {
    if (clause == nullptr) return;
    const std::string_view name = str(*clause, column);
    const json* cols = field(*clause, list);
    if (name.empty() || cols == nullptr || !cols->is_array()) return;
    ColumnLineage c;
    for (const json& col : *cols) {
      if (const json* s = field(col, "String")) addName(&c.sources, str(*s, "sval"));
    }
    out_->renames.emplace_back(std::string(name), std::move(c));
  }

  // A sub-select's or CTE's name used as a whole row carries every column it returns.
  void rowAlias(std::string_view alias, const json& query) {
    if (alias.empty()) return;
    ColumnLineage all;
    reader_.readExpression(query, &all, /*row=*/false);
    all.whole_row = true;
    out_->renames.emplace_back(std::string(alias), std::move(all));
  }

  // Column list `(a, b)` renaming the result columns of `query` by position.
  void positional(const json* colnames, const json* query) {
    if (colnames == nullptr || !colnames->is_array()) return;
    std::vector<std::string_view> names;
    for (const json& c : *colnames) {
      const json* s = field(c, "String");
      names.push_back(s == nullptr ? std::string_view() : str(*s, "sval"));
    }
    positional(names, query);
  }

  void positional(const std::vector<std::string_view>& names, const json* query) {
    if (names.empty() || query == nullptr) return;
    std::string_view kind;
    const json* body = nullptr;
    std::vector<ColumnLineage> head, tail;
    bool star = false;
    if (unwrap(*query, &kind, &body) && kind == "SelectStmt") {
      reader_.readSelect(*body, &head, &tail, &star);
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) continue;
      ColumnLineage c;
      if (!star && i < head.size()) {
        c = head[i];
      } else {
        for (const ColumnLineage& h : head) mergeLineage(&c, h);
        for (const ColumnLineage& t : tail) mergeLineage(&c, t);
        c.whole_row = c.whole_row || star;
      }
      out_->renames.emplace_back(std::string(names[i]), std::move(c));
    }
  }

  LineageReader& reader_;
  OutputLineage* out_;
};

}  // namespace

void collectRenames(const json& stmt, LineageReader& reader, OutputLineage* out) {
  RenameCollector(reader, out).collect(stmt, 0);
}

}  // namespace tollgate::policy::sql
