// Result-column lineage from libpg_query's JSON parse tree (policy/sql/lineage.h).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/json_fields.h"
#include "policy/sql/lineage.h"
#include "policy/sql/lineage_json.h"
#include "policy/sql/lineage_stores.h"
#include "policy/sql/statement_table.h"
#include "policy/sql/tree_walker.h"

namespace tollgate::policy {
namespace sql {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = kLineageMaxDepth;

void addName(std::vector<std::string>* v, std::string_view name) { addLineageName(v, name); }
void merge(ColumnLineage* into, const ColumnLineage& from) { mergeLineage(into, from); }

class LineageWalker final : public LineageReader {
 public:
  explicit LineageWalker(const std::vector<std::string>* variables) : variables_(variables) {}

  OutputLineage run(const json& stmt) {
    collectRangeNames(stmt, 0);
    collectUnnamed(stmt, 0);
    std::string_view kind;
    const json* body = nullptr;
    if (!unwrap(stmt, &kind, &body)) return std::move(out_);
    top(kind, *body);
    collectRenames(stmt, *this, &out_);
    collectStores(stmt, *this, &out_);
    return std::move(out_);
  }

  // LineageReader, for the write half (lineage_stores.cc) and the renames
  // (lineage_renames.cc).
  void readExpression(const json& v, ColumnLineage* out, bool row) override {
    expression(v, out, 0, /*intact=*/!row);
  }
  void readSelect(const json& body, std::vector<ColumnLineage>* head,
                  std::vector<ColumnLineage>* tail, bool* star) override {
    selectOutput(body, head, tail, star, 0, /*values_stars=*/true);
  }
  void readFromFunction(const json& functions, ColumnLineage* out) override {
    fromFunction(functions, out);
  }
  bool rowReference(const json& arg) const override { return isRowReference(arg); }
  bool subselectName(std::string_view name) const override {
    return std::find(subselect_names_.begin(), subselect_names_.end(), name) !=
           subselect_names_.end();
  }

 private:
  // The statement whose result the client gets.
  void top(std::string_view kind, const json& body) {
    if (kind == "SelectStmt") {
      out_.known = true;
      selectOutput(body, &out_.head, &out_.tail, &out_.star, 0);
    } else if (kind == "InsertStmt" || kind == "UpdateStmt" || kind == "DeleteStmt" ||
               kind == "MergeStmt") {
      const json* returning = field(body, "returningList");
      if (returning == nullptr) return;
      out_.known = true;
      targetList(*returning, &out_.head, &out_.tail, &out_.star);
    } else if (kind == "CopyStmt") {
      // COPY (query) TO STDOUT returns what the query does; COPY t (a, b) TO STDOUT returns
      // those columns. Without a column list the columns are the table's: unknown here.
      if (flag(body, "is_from")) return;
      std::string_view inner_kind;
      const json* inner = nullptr;
      if (const json* q = field(body, "query"); q != nullptr && unwrap(*q, &inner_kind, &inner)) {
        top(inner_kind, *inner);
      } else if (const json* cols = field(body, "attlist"); cols != nullptr && cols->is_array()) {
        out_.known = true;
        for (const json& c : *cols) {
          const json* s = field(c, "String");
          ColumnLineage lineage;
          if (s != nullptr) addName(&lineage.sources, str(*s, "sval"));
          out_.head.push_back(std::move(lineage));
        }
      }
    } else if (kind == "ReturnStmt") {
      // RETURN expr: the body of a SQL-standard function (function_lineage.h).
      out_.known = true;
      out_.head.emplace_back();
      if (const json* value = field(body, "returnval")) expression(*value, &out_.head.back(), 0);
    } else if (kind == "CallStmt") {
      // CALL returns a row of the procedure's OUT parameters, named by them: any of them may
      // be what the procedure (its call name) or its arguments carry.
      const json* call = field(body, "funccall");
      if (call == nullptr) return;
      out_.known = true;
      out_.star = true;
      ColumnLineage c;
      addLineageName(&c.sources, callName(lastString(field(*call, "funcname"))));
      if (const json* args = field(*call, "args")) expression(*args, &c, 0);
      merge(&out_.unnamed, c);
    } else if (kind == "ExecuteStmt") {
      out_.uses = str(body, "name");
      if (const json* params = field(body, "params")) expression(*params, &out_.arguments, 0);
    } else if (kind == "ExplainStmt") {
      std::string_view inner_kind;
      const json* inner = nullptr;
      const json* q = field(body, "query");
      if (q == nullptr || !unwrap(*q, &inner_kind, &inner)) return;
      // EXPLAIN CREATE TABLE t AS EXECUTE p plans p too.
      if (inner_kind == "CreateTableAsStmt" &&
          ((q = field(*inner, "query")) == nullptr || !unwrap(*q, &inner_kind, &inner))) {
        return;
      }
      if (inner_kind != "ExecuteStmt") return;
      top(inner_kind, *inner);  // its name and arguments, as EXECUTE's
      out_.explains = out_.uses;
      if (!explainRuns(body)) out_.uses.clear();
    } else if (kind == "FetchStmt") {
      out_.uses = str(body, "portalname");
    } else if (kind == "DeallocateStmt" || kind == "ClosePortalStmt") {
      out_.releases = str(body, kind == "DeallocateStmt" ? "name" : "portalname");
      out_.releases_all = out_.releases.empty();
    } else if (kind == "DiscardStmt") {
      out_.releases_all = str(body, "target") == "DISCARD_ALL";
    } else if (kind == "PrepareStmt" || kind == "DeclareCursorStmt") {
      constexpr int64_t kCursorOptHold = 0x20;  // CURSOR_OPT_HOLD in parsenodes.h
      if (kind == "DeclareCursorStmt") {
        const json* options = field(body, "options");
        out_.holds = options != nullptr && options->is_number_integer() &&
                     (options->get<int64_t>() & kCursorOptHold) != 0;
      }
      out_.defines = str(body, kind == "PrepareStmt" ? "name" : "portalname");
      const json* q = field(body, "query");
      std::string_view inner_kind;
      const json* inner = nullptr;
      if (q != nullptr && unwrap(*q, &inner_kind, &inner)) top(inner_kind, *inner);
    }
  }

  // Result columns of a SELECT body (plain, VALUES, or a set operation of those).
  // `values_stars`: a VALUES row's `.*` items count as a target list's stars (INSERT INTO
  // hist VALUES ('U', OLD.*), whose OLD.* the stores resolve by its table); otherwise each
  // item is one column made of what it names.
  void selectOutput(const json& body, std::vector<ColumnLineage>* head,
                    std::vector<ColumnLineage>* tail, bool* star, int depth,
                    bool values_stars = false) {
    if (depth > kMaxDepth) return;
    const std::string_view op = str(body, "op");
    if (!op.empty() && op != "SETOP_NONE") {
      for (const char* arm : {"larg", "rarg"}) {
        const json* a = field(body, arm);
        if (a == nullptr) continue;
        std::vector<ColumnLineage> h, t;
        selectOutput(*a, &h, &t, star, depth + 1, values_stars);
        mergeLists(head, h);
        mergeLists(tail, t);
      }
      return;
    }
    if (const json* row = values_stars ? oneRowValues(body) : nullptr) {
      targetList(*row, head, tail, star, /*bare=*/true);
      return;
    }
    if (const json* values = field(body, "valuesLists"); values != nullptr && values->is_array()) {
      std::vector<const json*> rows;
      bool stars = false;
      for (const json& row : *values) {
        const json* list = field(row, "List");
        const json* items = list == nullptr ? nullptr : field(*list, "items");
        if (items == nullptr || !items->is_array()) continue;
        rows.push_back(items);
        stars = stars || anyStarExpansion(*items);
      }
      if (stars) {
        // PostgreSQL expands x.* in every row: which item lands in which column, and under
        // what name (column1, or a column list's), is not known. Any column may be any of them
        // (set operations too: the other arms' positions may be this one's).
        ColumnLineage any;
        any.whole_row = true;
        for (const json* items : rows) expression(*items, &any, 0);
        merge(&out_.unnamed, any);
        *star = true;
        out_.opaque = true;
        return;
      }
      for (const json* items : rows) {
        if (head->size() < items->size()) head->resize(items->size());
        for (size_t i = 0; i < items->size(); ++i) expression((*items)[i], &(*head)[i], 0);
      }
      return;
    }
    if (const json* targets = field(body, "targetList")) targetList(*targets, head, tail, star);
  }

  static void mergeLists(std::vector<ColumnLineage>* into, const std::vector<ColumnLineage>& from) {
    if (into->size() < from.size()) into->resize(from.size());
    for (size_t i = 0; i < from.size(); ++i) merge(&(*into)[i], from[i]);
  }

  // `list`: ResTarget nodes, or (`bare`) a VALUES row's expressions.
  void targetList(const json& list, std::vector<ColumnLineage>* head,
                  std::vector<ColumnLineage>* tail, bool* star, bool bare = false) {
    if (!list.is_array()) return;
    bool seen_star = false;
    for (const json& t : list) {
      const json* rt = bare ? nullptr : field(t, "ResTarget");
      const json* val = bare ? &t : rt == nullptr ? nullptr : field(*rt, "val");
      if (val == nullptr) continue;
      if (isStarExpansion(*val)) {
        // (expr).* expands to the fields of a composite value, named by its type (f1, ...).
        const json* ind = field(*val, "A_Indirection");
        const json* arg = ind == nullptr ? nullptr : field(*ind, "arg");
        if (arg != nullptr && !isRowReference(*arg)) {
          ColumnLineage c;
          expression(*arg, &c, 0, /*intact=*/false);
          addUnnamed(c);
        }
        seen_star = true;
        *star = true;
        // Only entries after the last `*` keep their position from the end; those between two
        // stars may be any column a `*` expands to.
        for (const ColumnLineage& c : *tail) merge(&out_.unnamed, c);
        tail->clear();
        continue;
      }
      ColumnLineage c;
      expression(*val, &c, 0);
      (seen_star ? tail : head)->push_back(std::move(c));
    }
  }

  // `c` naming a FROM item: (c).* expands to its columns under their own names.
  bool isRowReference(const json& arg) const {
    const json* ref = field(arg, "ColumnRef");
    const json* fields = ref == nullptr ? nullptr : field(*ref, "fields");
    if (fields == nullptr || fields->size() != 1) return false;
    bool star = false;
    const std::string_view name = lastName(*fields, &star);
    return std::find(range_names_.begin(), range_names_.end(), name) != range_names_.end();
  }

  // Column references of an expression. Sub-selects inside it contribute their result
  // columns, not their WHERE clauses (`(SELECT holder FROM cards WHERE cvv = '1')` is holder).
  // `intact`: every node between the expression's root and `v` converts a row to JSON and
  // keeps its field names (ColumnLineage::reshaped).
  void expression(const json& v, ColumnLineage* out, int depth, bool intact = true) {
    if (depth > kMaxDepth) {
      out->whole_row = out->reshaped = true;  // cannot follow: assume the worst
      return;
    }
    if (v.is_array()) {
      for (const json& e : v) {
        if (e.is_structured()) expression(e, out, depth + 1, intact);
      }
      return;
    }
    if (!v.is_object()) return;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& key = it.key();
      const json& val = it.value();
      if (key == "A_Const") continue;
      if (key == "FuncCall") {
        // What a database function returns is known only to the sidecar (its catalog): the
        // call's name stands for it.
        const std::string_view fn = lastString(field(val, "funcname"));
        if (!fn.empty()) {
          addLineageName(&out->sources, callName(fn));
          // Its value itself, not the columns of a function in FROM (callValueName()).
          if (!in_from_function_) addLineageName(&out->sources, callValueName(fn));
        }
      }
      if (key == "ColumnRef") {
        columnRef(val, out, intact);
      } else if (key == "SelectStmt") {
        std::vector<ColumnLineage> h, t;
        bool star = false;
        selectOutput(val, &h, &t, &star, depth + 1);
        for (const ColumnLineage& c : h) merge(out, c);
        for (const ColumnLineage& c : t) merge(out, c);
        if (star) markWholeRow(out, intact);
      } else if (key == "A_Indirection") {
        // (expr).field reads that field by name: (card).cvv, ((w).card).cvv, (getcard()).cvv.
        const json* list = field(val, "indirection");
        if (list != nullptr && list->is_array()) {
          for (const json& item : *list) {
            const json* s = field(item, "String");
            if (s != nullptr) addLineageName(&out->sources, str(*s, "sval"));
          }
        }
        expression(val, out, depth + 1, false);
      } else if (key == "FuncCall" && readsRowsItself(lastString(field(val, "funcname")))) {
        markWholeRow(out, /*intact=*/false);
        expression(val, out, depth + 1, false);
      } else if (key == "FuncCall" && isFieldNotation(val)) {
        // f(x) with one argument may be field f of composite x (PostgreSQL's functional
        // notation: cvv(card) is (card).cvv): the name counts like (x).f's.
        addLineageName(&out->sources, lastString(field(val, "funcname")));
        expression(val, out, depth + 1, intact && keepsRowFields(key, val));
      } else if (val.is_structured()) {
        // Node names are capitalised (FuncCall, A_Expr, TypeCast), their fields not (args).
        const bool node = !key.empty() && key[0] >= 'A' && key[0] <= 'Z';
        expression(val, out, depth + 1, intact && (!node || keepsRowFields(key, val)));
      }
    }
  }

  // An unqualified call with exactly one argument and nothing else (no star, DISTINCT,
  // ORDER BY, FILTER or OVER): what cvv(card) looks like.
  static bool isFieldNotation(const json& call) {
    const json* names = field(call, "funcname");
    const json* args = field(call, "args");
    return names != nullptr && names->is_array() && names->size() == 1 && args != nullptr &&
           args->is_array() && args->size() == 1 && field(call, "agg_star") == nullptr &&
           field(call, "agg_order") == nullptr && field(call, "agg_filter") == nullptr &&
           field(call, "over") == nullptr && field(call, "agg_distinct") == nullptr;
  }

  static void markWholeRow(ColumnLineage* out, bool intact) {
    out->whole_row = true;
    if (!intact) out->reshaped = true;
  }

  // Nodes that turn a row into JSON with its column names as field names, or keep them.
  static bool keepsRowFields(std::string_view node, const json& val) {
    if (node == "FuncCall") {
      const std::string_view fn = lastString(field(val, "funcname"));
      static constexpr std::string_view kRowToJson[] = {
          "to_json",          "to_jsonb",         "row_to_json",      "json_agg",
          "jsonb_agg",        "array_to_json",    "json_build_array", "jsonb_build_array",
          "json_strip_nulls", "jsonb_strip_nulls"};
      return std::find(std::begin(kRowToJson), std::end(kRowToJson), fn) != std::end(kRowToJson);
    }
    if (node == "A_Expr") {
      // jsonb - key, jsonb #- path, jsonb || jsonb: the remaining fields keep their names.
      const std::string_view op = lastString(field(val, "name"));
      return str(val, "kind") == "AEXPR_OP" && (op == "-" || op == "#-" || op == "||");
    }
    if (node == "TypeCast") {
      const json* type = field(val, "typeName");
      const std::string_view to = lastString(type == nullptr ? nullptr : field(*type, "names"));
      return to == "json" || to == "jsonb";
    }
    return false;
  }

  void columnRef(const json& ref, ColumnLineage* out, bool intact) {
    const json* fields = field(ref, "fields");
    if (fields == nullptr) return;
    bool star = false;
    const std::string_view name = lastName(*fields, &star);
    // A column named by the server, not the statement (`value` of a function in FROM,
    // `column1` of a VALUES list, `upper` of an unaliased upper(cvv) in a sub-select) may be any
    // of them: unqualified names get everything unnamed; `e.value` what function e reads.
    if (fields->size() >= 2) {
      const json& qualifier = (*fields)[fields->size() - 2];
      const json* s = field(qualifier, "String");
      const std::string_view q = s == nullptr ? std::string_view() : str(*s, "sval");
      // r.f of a PL/pgSQL record r (blk.r.f in a labelled block): what r holds.
      for (size_t i = 0; variables_ != nullptr && i + 1 < fields->size(); ++i) {
        const json* part = field((*fields)[i], "String");
        const std::string_view v = part == nullptr ? std::string_view() : str(*part, "sval");
        if (std::find(variables_->begin(), variables_->end(), v) != variables_->end()) {
          addName(&out->sources, v);
        }
      }
      for (const auto& [alias, args] : function_aliases_) {
        if (alias == q) merge(out, args);
      }
      if (std::find(subselect_names_.begin(), subselect_names_.end(), q) !=
          subselect_names_.end()) {
        merge(out, unnamed_);
      }
    } else if (!star) {
      merge(out, unnamed_);
    }
    if (star) {
      markWholeRow(out, intact);  // t.* inside an expression: row(t.*), json_agg(t.*)
      return;
    }
    if (name.empty()) return;
    addName(&out->sources, name);
    // t.f may be function f of row t (PostgreSQL's attribute notation: code(cards) as c.code).
    if (fields->size() >= 2) addName(&out->sources, callName(name));
    // A bare name that is also a FROM item's name may be that item's whole row.
    if (fields->size() == 1 &&
        std::find(range_names_.begin(), range_names_.end(), name) != range_names_.end()) {
      markWholeRow(out, intact);
    }
  }

  // What may reach the result under names the server chooses (OutputLineage::unnamed): the
  // arguments of functions in FROM (and XMLTABLE), reshaped, also under each function's alias;
  // and the columns of sub-selects and CTEs the statement did not name.
  void collectUnnamed(const json& v, int depth) {
    walkMembers(v, depth, [&](const std::string& key, const json& val, int at) {
      if (key == "RangeFunction" || key == "RangeTableFunc") {
        ColumnLineage args;
        for (const char* part : {"functions", "docexpr", "rowexpr", "columns"}) {
          if (const json* p = field(val, part)) fromFunction(*p, &args);
        }
        if (args.whole_row) args.reshaped = true;
        if (const json* alias = field(val, "alias")) {
          function_aliases_.emplace_back(std::string(str(*alias, "aliasname")), args);
        } else if (std::string_view name = implicitAlias(val); !name.empty()) {
          function_aliases_.emplace_back(std::string(name), args);
        }
        addUnnamed(args);
      } else if (key == "RangeSubselect") {
        const json* alias = field(val, "alias");
        if (alias != nullptr) addName(&subselect_names_, str(*alias, "aliasname"));
        if (const json* q = field(val, "subquery")) {
          unnamedColumns(*q, countOf(alias == nullptr ? nullptr : field(*alias, "colnames")), at);
        }
      } else if (key == "CommonTableExpr") {
        addName(&subselect_names_, str(val, "ctename"));
        if (const json* q = field(val, "ctequery")) {
          unnamedColumns(*q, countOf(field(val, "aliascolnames")), at);
        }
      }
      return true;
    });
  }

  static size_t countOf(const json* list) {
    return list != nullptr && list->is_array() ? list->size() : 0;
  }

  void addUnnamed(const ColumnLineage& c) {
    merge(&unnamed_, c);
    merge(&out_.unnamed, c);
  }

  // Result columns of `query` after its first `named` ones that get the server's name rather
  // than their own: VALUES items (column1, ...) and target entries without an alias that are
  // not a plain column.
  void unnamedColumns(const json& query, size_t named, int depth) {
    std::string_view kind;
    const json* body = nullptr;
    if (unwrap(query, &kind, &body) && kind == "SelectStmt") unnamedOf(*body, named, depth);
  }

  void unnamedOf(const json& select, size_t named, int depth) {
    if (depth > kMaxDepth) return;
    const json* body = &select;
    const std::string_view op = str(*body, "op");
    if (!op.empty() && op != "SETOP_NONE") {
      for (const char* arm : {"larg", "rarg"}) {
        if (const json* a = field(*body, arm)) unnamedOf(*a, named, depth + 1);
      }
      return;
    }
    if (const json* values = field(*body, "valuesLists"); values != nullptr && values->is_array()) {
      for (const json& row : *values) {
        const json* list = field(row, "List");
        const json* items = list == nullptr ? nullptr : field(*list, "items");
        if (items == nullptr || !items->is_array()) continue;
        // Past an x.* item, PostgreSQL's expansion moves the items: a column list names none.
        for (size_t i = anyStarExpansion(*items) ? 0 : named; i < items->size(); ++i) {
          ColumnLineage c;
          expression((*items)[i], &c, 0);
          addUnnamed(c);
        }
      }
      return;
    }
    const json* targets = field(*body, "targetList");
    if (targets == nullptr || !targets->is_array()) return;
    for (size_t i = named; i < targets->size(); ++i) {
      const json* rt = field((*targets)[i], "ResTarget");
      const json* val = rt == nullptr ? nullptr : field(*rt, "val");
      if (val == nullptr || !str(*rt, "name").empty() || field(*val, "ColumnRef") != nullptr) {
        continue;  // named by its alias or its column (`*` keeps the columns' own names)
      }
      ColumnLineage c;
      expression(*val, &c, 0);
      addUnnamed(c);
    }
  }

  // The lineage of a function in FROM (its columns): what its call and arguments carry.
  void fromFunction(const json& functions, ColumnLineage* out) {
    const bool outer = in_from_function_;
    in_from_function_ = true;
    expression(functions, out, 0, /*intact=*/false);
    in_from_function_ = outer;
  }

  // Names of every FROM item (relation, alias, sub-select, function, CTE) in the statement.
  void collectRangeNames(const json& v, int depth) {
    walkMembers(v, depth, [&](const std::string& key, const json& val, int at) {
      if (key == "RangeVar") {
        addName(&range_names_, str(val, "relname"));
      } else if (key == "InsertStmt" || key == "UpdateStmt" || key == "DeleteStmt" ||
                 key == "MergeStmt") {
        // Their target is a typed field, not a RangeVar node: `UPDATE cards SET note =
        // cards::text`. ON CONFLICT DO UPDATE reads the proposed row as `excluded`.
        targetRowName(key, val);
        if (field(val, "onConflictClause") != nullptr) addName(&range_names_, "excluded");
      } else if (key == "CommonTableExpr") {
        addName(&range_names_, str(val, "ctename"));
      } else if (key == "alias" && val.is_object()) {
        addName(&range_names_, str(val, "aliasname"));
      } else if (key == "RangeFunction") {
        // A function's alias names its result, made from its arguments (a rename, see
        // renames()), not a table row: generate_series(1, 9) i; SELECT i.
        if (const json* fns = field(val, "functions")) collectRangeNames(*fns, at + 1);
        return false;
      }
      return true;
    });
  }

  // The target table's name as a whole-row reference, where a statement can use it that way:
  // not when it has an alias (which hides it), not in an INSERT without RETURNING or ON
  // CONFLICT (its SELECT cannot see the target), and not when the statement assigns a column
  // of that name (`UPDATE tag SET tag = lower(tag)`: PostgreSQL takes the column first).
  void targetRowName(std::string_view kind, const json& stmt) {
    const json* rel = field(stmt, "relation");
    if (rel == nullptr || field(*rel, "alias") != nullptr) return;
    if (kind == "InsertStmt" && field(stmt, "returningList") == nullptr &&
        field(stmt, "onConflictClause") == nullptr) {
      return;
    }
    const std::string_view name = str(*rel, "relname");
    bool assigned_column = false;
    walkMembers(stmt, 0, [&](const std::string& key, const json& val, int /*at*/) {
      if (key == "ResTarget" && str(val, "name") == name) assigned_column = true;
      return !assigned_column;
    });
    if (!assigned_column) addName(&range_names_, name);
  }

  const std::vector<std::string>* variables_;  // PL/pgSQL variables (outputLineage())
  OutputLineage out_;
  bool in_from_function_ = false;  // expression() is reading a function in FROM
  std::vector<std::string> range_names_;
  std::vector<std::pair<std::string, ColumnLineage>> function_aliases_;
  std::vector<std::string> subselect_names_;  // aliases of sub-selects in FROM, CTE names
  // What unqualified names get (columnRef()): out_.unnamed, without the top-level target
  // entries between two stars, which no name in the statement can refer to.
  ColumnLineage unnamed_;
};

}  // namespace

OutputLineage outputLineage(const nlohmann::json& stmt, const std::vector<std::string>* variables) {
  LineageWalker walker(variables);
  return walker.run(stmt);
}

}  // namespace sql
}  // namespace tollgate::policy
