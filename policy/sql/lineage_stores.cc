// The write half of the lineage walker: what each write stores (lineage_stores.h).
#include "policy/sql/lineage_stores.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "policy/sql/lineage_json.h"
#include "policy/sql/statement_table.h"
#include "policy/sql/tree_walker.h"

namespace tollgate::policy::sql {
namespace {

class StoreCollector {
 public:
  StoreCollector(LineageReader& reader, OutputLineage* out) : reader_(reader), out_(out) {}

  // Every write anywhere under `v`.
  void stores(const json& v, int depth) {
    walkMembers(v, depth, [&](const std::string& key, const json& val, int /*at*/) {
      if (key == "ExplainStmt") return explainRuns(val);  // plain EXPLAIN stores nothing
      if (key == "UpdateStmt") {
        // A column reference names a table's column only over plain tables: a table function
        // (XMLTABLE ... COLUMNS card), a sub-select or a CTE may define the name.
        storeAssignments(field(val, "targetList"), field(val, "withClause") == nullptr &&
                                                       plainFrom(field(val, "fromClause")));
      } else if (key == "InsertStmt") {
        storeQuery(columnNames(field(val, "cols")), field(val, "selectStmt"));
        if (const json* conflict = field(val, "onConflictClause")) {
          // The target's columns, or excluded's: the row the INSERT stores, judged as such.
          storeAssignments(field(*conflict, "targetList"), field(val, "withClause") == nullptr);
        }
      } else if (key == "MergeWhenClause") {
        const std::string_view command = str(val, "commandType");
        if (command == "CMD_UPDATE") {
          storeAssignments(field(val, "targetList"), false);  // USING may define any name
        } else if (command == "CMD_INSERT") {
          storeRow(columnNames(field(val, "targetList")), field(val, "values"));
        }
      } else if (key == "CreateTableAsStmt") {
        const json* into = field(val, "into");  // an IntoClause's fields, not a node
        storeNamed(into == nullptr ? nullptr : field(*into, "colNames"), field(val, "query"));
      } else if (key == "SelectStmt") {
        // SELECT ... INTO t creates t like CREATE TABLE t AS SELECT ...
        if (const json* into = selectInto(val)) storeNamed(field(*into, "colNames"), &val);
      } else if (key == "ViewStmt") {
        // A view made here is not in the catalog the session read at login: its columns count
        // as stored, named like those of CREATE TABLE AS.
        const size_t first = out_->stored.size();
        storeNamed(field(val, "aliases"), field(val, "query"));
        // Written through, it stores into the column each of its columns names: a masked name
        // over an unmasked column (SELECT note AS cvv) would put cvv data in note.
        for (size_t i = first, last = out_->stored.size(); i < last; ++i) {
          const auto [target, value] = out_->stored[i];  // a copy: emplace_back reallocates
          if (target.empty() || value.whole_row) continue;
          std::vector<std::string> columns;  // c.note also names note() (attribute notation)
          for (const std::string& s : value.sources) {
            if (!isCallName(s)) columns.push_back(s);
          }
          if (columns.size() != 1 || columns.front() == target) continue;
          storeColumn(columns.front(), target);
        }
      } else if (key == "RenameStmt" && (str(val, "renameType") == "OBJECT_COLUMN" ||
                                         str(val, "renameType") == "OBJECT_ATTRIBUTE")) {
        // ALTER TABLE cards RENAME COLUMN cvv TO note: the data stays, under the new name (of a
        // composite type's attribute too).
        storeColumn(str(val, "newname"), str(val, "subname"));
        if (str(val, "relationType") == "OBJECT_VIEW") {
          // ALTER VIEW v RENAME COLUMN note TO cvv: written through, v.cvv stores into note.
          storeColumn(str(val, "subname"), str(val, "newname"));
        }
      } else if (key == "AlterTableCmd" && str(val, "subtype") == "AT_AlterColumnType") {
        // ALTER COLUMN note TYPE text USING cvv: the USING expression is the def's raw_default.
        const json* def = field(val, "def");
        const json* column = def == nullptr ? nullptr : field(*def, "ColumnDef");
        const json* using_expr = column == nullptr ? nullptr : field(*column, "raw_default");
        if (using_expr != nullptr) storeExpression(str(val, "name"), *using_expr);
      } else if (key == "Constraint" && str(val, "contype") == "CONSTR_GENERATED") {
        // note text GENERATED ALWAYS AS (cvv) STORED, named by the enclosing ColumnDef.
        if (const json* e = field(val, "raw_expr")) storeExpression(generated_column_, *e);
      } else if (key == "Constraint" && str(val, "contype") == "CONSTR_DEFAULT") {
        // note text DEFAULT card_code(1): new rows (and existing ones, for ADD COLUMN) get it.
        if (const json* e = field(val, "raw_expr")) storeExpression(generated_column_, *e);
      } else if (key == "AlterTableCmd" && str(val, "subtype") == "AT_ColumnDefault") {
        // ALTER COLUMN note SET DEFAULT expr
        if (const json* e = field(val, "def")) storeExpression(str(val, "name"), *e);
      } else if (key == "ColumnDef") {
        generated_column_ = str(val, "colname");
      } else if (key == "FuncCall" && storesArguments(lastString(field(val, "funcname")))) {
        // lo_from_bytea(0, convert_to(cvv, 'UTF8')), lo_put, lowrite, setval(s, cvv::bigint),
        // pg_notify('ch', cvv): a large object's bytes, a sequence's value, a notification's
        // payload, read back under no column name.
        if (const json* args = field(val, "args")) storeExpression("", *args);
      }
      // A write whose values may be the statement's parameters (PREPARE p(text) AS UPDATE log
      // SET msg = $1, a function body storing its argument): OutputLineage::stores_parameters.
      if ((key == "UpdateStmt" || key == "InsertStmt" || key == "MergeStmt") &&
          mentionsParameter(val)) {
        out_->stores_parameters = true;
      }
      return true;
    });
  }

 private:
  // Column `target` gets what expression `e` is made of.
  void storeExpression(std::string_view target, const json& e) {
    ColumnLineage c;
    reader_.readExpression(e, &c, false);
    out_->stored.emplace_back(std::string(target), std::move(c));
  }

  // Column `target` gets column `source`'s data (a rename, a view's column written through).
  void storeColumn(std::string_view target, std::string_view source) {
    ColumnLineage c;
    addLineageName(&c.sources, source);
    out_->stored.emplace_back(std::string(target), std::move(c));
  }

  // Names of a list of ResTarget (INSERT's columns) or String (IntoClause colNames) nodes.
  static std::vector<std::string_view> columnNames(const json* list) {
    std::vector<std::string_view> names;
    if (list == nullptr || !list->is_array()) return names;
    for (const json& c : *list) {
      const json* node = field(c, "ResTarget");
      if (node != nullptr) {
        names.push_back(str(*node, "name"));
      } else if ((node = field(c, "String")) != nullptr) {
        names.push_back(str(*node, "sval"));
      }
    }
    return names;
  }

  // `SET name = expr` (UPDATE, ON CONFLICT DO UPDATE, MERGE ... UPDATE SET). `plain`: a
  // column reference there is one of the tables' columns (OutputLineage::bare_stores).
  void storeAssignments(const json* list, bool plain) {
    if (list == nullptr || !list->is_array()) return;
    for (const json& t : *list) {
      const json* rt = field(t, "ResTarget");
      const json* val = rt == nullptr ? nullptr : field(*rt, "val");
      if (val == nullptr) continue;
      ColumnLineage c;
      assignedValue(*val, reader_, &c);
      const json* indirection = field(*rt, "indirection");
      if (plain && (indirection == nullptr || indirection->empty()) && isColumnReference(*val)) {
        out_->bare_stores.push_back(out_->stored.size());
      }
      out_->stored.emplace_back(std::string(str(*rt, "name")), std::move(c));
    }
  }

  // A column reference, `col` or `t.col` (not `*`, `t.*`, a field or a subscript).
  static bool isColumnReference(const json& v) {
    const json* ref = field(v, "ColumnRef");
    const json* fields = ref == nullptr ? nullptr : field(*ref, "fields");
    return fields != nullptr && fields->is_array() && !fields->empty() &&
           field(fields->back(), "String") != nullptr;
  }

  // One row of values stored into `names` by position (MERGE ... INSERT (a, b) VALUES (...)).
  void storeRow(const std::vector<std::string_view>& names, const json* values) {
    if (values == nullptr || !values->is_array()) return;
    std::vector<ColumnLineage> row(values->size());
    for (size_t i = 0; i < values->size(); ++i) {
      reader_.readExpression((*values)[i], &row[i], false);
    }
    // VALUES (c.*) expands to c's columns: past it, no item is at its position.
    storePositional(names, row, {}, anyStarExpansion(*values));
  }

  // A query's result stored into `names` by position (INSERT INTO t (a, b) SELECT / VALUES);
  // `names` empty: into columns the statement does not name.
  void storeQuery(const std::vector<std::string_view>& names, const json* query) {
    std::string_view kind;
    const json* body = nullptr;
    if (query == nullptr || !unwrap(*query, &kind, &body) || kind != "SelectStmt") return;
    std::vector<ColumnLineage> head, tail;
    bool star = false;
    reader_.readSelect(*body, &head, &tail, &star);
    const size_t first = out_->stored.size();
    storePositional(names, head, tail, star);
    if (!star || out_->stored.size() == first) return;
    // Only the `*` made these whole rows: over tables, the session can name what it stores.
    for (const ColumnLineage& c : head) {
      if (c.whole_row) return;
    }
    for (const ColumnLineage& c : tail) {
      if (c.whole_row) return;
    }
    std::vector<std::string> tables;
    if (!starOverTables(*body, &tables)) return;
    for (size_t i = first; i < out_->stored.size(); ++i) out_->star_tables.emplace_back(i, tables);
  }

  // A plain SELECT whose every `*` is `*` or `t.*` (not `(expr).*`) over a FROM clause of tables
  // (plainFrom): `*tables` gets the names (relname) of those it expands (views among them are
  // the session's to tell apart). In a trigger function's body, `NEW.*` and `OLD.*` (no FROM
  // item of that name) expand the written row: kTriggerRowStar stands for its table; so in a
  // VALUES list of one row (VALUES ('U', OLD.*)), which has no FROM.
  bool starOverTables(const json& body, std::vector<std::string>* tables) const {
    const std::string_view op = str(body, "op");
    const json* row = oneRowValues(body);
    const json* targets = row != nullptr ? row : field(body, "targetList");
    const json* from = field(body, "fromClause");
    if ((!op.empty() && op != "SETOP_NONE") ||
        (row == nullptr && field(body, "valuesLists") != nullptr) || targets == nullptr ||
        !targets->is_array() || (from != nullptr && !plainFrom(from))) {
      return false;
    }
    // FROM items as the target list refers to them: (alias or relname, relname).
    std::vector<std::pair<std::string_view, std::string_view>> items;
    if (from != nullptr) {
      for (const json& item : *from) fromTables(item, {}, &items, 0);
    }
    bool after_star = false, between = false;
    for (const json& t : *targets) {
      const json* rt = row != nullptr ? nullptr : field(t, "ResTarget");
      const json* val = row != nullptr ? &t : rt == nullptr ? nullptr : field(*rt, "val");
      if (val == nullptr) continue;
      if (!isStarExpansion(*val)) {
        between = after_star;
        continue;
      }
      // What stands between two stars is not kept by position (the walker counts it among
      // OutputLineage::unnamed): only the stars' own tables would be judged.
      if (between) return false;
      after_star = true;
      const json* ref = field(*val, "ColumnRef");
      const json* fields = ref == nullptr ? nullptr : field(*ref, "fields");
      if (fields == nullptr || !fields->is_array()) return false;  // (expr).*
      // `t.*` (or `s.t.*`) expands FROM item t; `*` all of them. A name no item has is no
      // table's (in a function's body: a PL/pgSQL record, a row parameter, NEW).
      std::string_view qualifier;
      if (fields->size() >= 2) {
        if (const json* q = field((*fields)[fields->size() - 2], "String")) {
          qualifier = str(*q, "sval");
        }
      }
      const bool named = std::any_of(items.begin(), items.end(),
                                     [&](const auto& item) { return item.first == qualifier; });
      if (fields->size() == 2 && !named && isTriggerRowName(qualifier)) {
        addLineageName(tables, kTriggerRowStar);
        continue;
      }
      if ((fields->size() >= 2 && !named) || items.empty()) return false;
      for (const auto& [ref_name, relname] : items) {
        if (!named || ref_name == qualifier) addLineageName(tables, relname);
      }
    }
    return !tables->empty();
  }

  // The tables of a plainFrom() item, with the name the statement refers to each by: its alias
  // or relname, or `outer`, the alias of a join it is in (which hides the names inside).
  static void fromTables(const json& item, std::string_view outer,
                         std::vector<std::pair<std::string_view, std::string_view>>* items,
                         int depth) {
    if (depth > kLineageMaxDepth) return;
    if (const json* rv = field(item, "RangeVar")) {
      const std::string_view relname = str(*rv, "relname");
      const std::string_view alias = aliasName(*rv);
      items->emplace_back(!outer.empty() ? outer : !alias.empty() ? alias : relname, relname);
    } else if (const json* join = field(item, "JoinExpr")) {
      if (outer.empty()) outer = aliasName(*join);
      for (const char* side : {"larg", "rarg"}) {
        if (const json* arg = field(*join, side)) fromTables(*arg, outer, items, depth + 1);
      }
    }
  }

  static std::string_view aliasName(const json& node) {
    const json* alias = field(node, "alias");
    if (alias != nullptr && field(*alias, "Alias") != nullptr) alias = field(*alias, "Alias");
    return alias == nullptr ? std::string_view() : str(*alias, "aliasname");
  }

  void storePositional(const std::vector<std::string_view>& names,
                       const std::vector<ColumnLineage>& head,
                       const std::vector<ColumnLineage>& tail, bool star) {
    if (!star && tail.empty() && !names.empty() && names.size() >= head.size()) {
      for (size_t i = 0; i < head.size(); ++i) {
        out_->stored.emplace_back(std::string(names[i]), head[i]);
      }
      return;
    }
    // Which value lands in which column is not known: each named one may hold any of them.
    ColumnLineage all;
    for (const ColumnLineage& h : head) mergeLineage(&all, h);
    for (const ColumnLineage& t : tail) mergeLineage(&all, t);
    all.whole_row = all.whole_row || star;
    if (names.empty()) {
      out_->stored.emplace_back(std::string(), std::move(all));
      return;
    }
    for (std::string_view name : names) out_->stored.emplace_back(std::string(name), all);
  }

  // CREATE TABLE t [(a, b)] AS query, SELECT ... INTO t: the new columns are named by the
  // column list, else as the query names its result columns.
  void storeNamed(const json* colnames, const json* query) {
    if (query == nullptr) return;
    if (field(*query, "ExecuteStmt") != nullptr) {
      // CREATE TABLE t AS EXECUTE p: what p returns is the session's to know; any column.
      storeAnyColumn();
      return;
    }
    std::string_view kind;
    const json* body = nullptr;
    if (field(*query, "SelectStmt") != nullptr) {
      if (!unwrap(*query, &kind, &body)) return;
    } else {
      body = query;  // SELECT ... INTO: the SelectStmt's own fields
    }
    const std::vector<std::string_view> names = columnNames(colnames);
    const std::string_view op = str(*body, "op");
    const json* targets = field(*body, "targetList");
    if ((!op.empty() && op != "SETOP_NONE") || targets == nullptr || !targets->is_array()) {
      // A set operation or VALUES: named by the column list where it covers every column.
      std::vector<ColumnLineage> head, tail;
      bool star = false;
      reader_.readSelect(*body, &head, &tail, &star);
      const bool covered = !star && tail.empty() && names.size() >= head.size();
      storePositional(covered ? names : std::vector<std::string_view>(), head, tail, star);
      return;
    }
    const bool own_names = names.empty() && plainFrom(field(*body, "fromClause"));
    size_t position = 0;
    bool after_star = false;
    for (const json& t : *targets) {
      const json* rt = field(t, "ResTarget");
      const json* val = rt == nullptr ? nullptr : field(*rt, "val");
      if (val == nullptr) continue;
      ColumnLineage c;
      if (isStarExpansion(*val)) {
        after_star = true;
        const json* ind = field(*val, "A_Indirection");
        const json* arg = ind == nullptr ? nullptr : field(*ind, "arg");
        if (arg != nullptr && !reader_.rowReference(*arg)) {
          // (expr).* names the fields by their type.
          reader_.readExpression(*arg, &c, true);
          out_->stored.emplace_back(std::string(), std::move(c));
        } else if (own_names) {
          // `*` and `t.*` over tables keep each column's name (a view's are the session's to
          // check: OutputLineage::stores_star).
          out_->stores_star = true;
        } else {
          storeAnyColumn();  // renamed by a column list, a sub-select, a CTE, a function
        }
        continue;
      }
      reader_.readExpression(*val, &c, false);
      std::string_view name;
      if (!after_star && position < names.size()) {
        name = names[position];
      } else if (!after_star || names.empty()) {
        name = str(*rt, "name");
        if (name.empty()) name = resultName(*val);
      }  // else: after a `*` under a column list, which name it gets is not known
      ++position;
      out_->stored.emplace_back(std::string(name), std::move(c));
    }
  }

  void storeAnyColumn() {
    ColumnLineage any;
    any.whole_row = true;
    out_->stored.emplace_back(std::string(), std::move(any));
  }

  // FROM items whose `*` gives each column under its own name: tables (or views), joins of
  // them, without column aliases; not CTEs, sub-selects or functions.
  bool plainFrom(const json* items) const {
    if (items == nullptr) return true;
    if (!items->is_array()) return false;
    for (const json& item : *items) {
      if (!plainFromItem(item, 0)) return false;
    }
    return true;
  }

  bool plainFromItem(const json& item, int depth) const {
    if (depth > kLineageMaxDepth) return false;
    if (const json* rv = field(item, "RangeVar")) {
      const json* alias = field(*rv, "alias");
      if (alias != nullptr && field(*alias, "colnames") != nullptr) return false;
      const std::string_view name = str(*rv, "relname");
      return !reader_.subselectName(name);
    }
    if (const json* join = field(item, "JoinExpr")) {
      const json* alias = field(*join, "alias");
      if (alias != nullptr && field(*alias, "colnames") != nullptr) return false;
      const json* l = field(*join, "larg");
      const json* r = field(*join, "rarg");
      return l != nullptr && r != nullptr && plainFromItem(*l, depth + 1) &&
             plainFromItem(*r, depth + 1);
    }
    return false;
  }

  // The name PostgreSQL gives a result column without an alias, where it is a name the
  // statement shows (FigureColname): a column reference's or a field's last name, through
  // casts. "" for anything else (a function's name, ?column?): not judged by name.
  static std::string_view resultName(const json& v) {
    if (const json* ref = field(v, "ColumnRef")) {
      bool star = false;
      const json* fields = field(*ref, "fields");
      return fields == nullptr ? std::string_view() : lastName(*fields, &star);
    }
    if (const json* cast = field(v, "TypeCast")) {
      const json* arg = field(*cast, "arg");
      return arg == nullptr ? std::string_view() : resultName(*arg);
    }
    if (const json* ind = field(v, "A_Indirection")) {
      const json* list = field(*ind, "indirection");
      if (list != nullptr && list->is_array() && !list->empty()) {
        if (const json* s = field(list->back(), "String")) return str(*s, "sval");
      }
    }
    return {};
  }

  LineageReader& reader_;
  OutputLineage* out_;
  std::string_view generated_column_;  // stores(): the ColumnDef whose constraints it reads
};

}  // namespace

bool mentionsParameter(const json& v, int depth) {
  if (depth > kLineageMaxDepth) return true;
  if (v.is_array()) {
    return std::any_of(v.begin(), v.end(),
                       [&](const json& e) { return mentionsParameter(e, depth + 1); });
  }
  if (!v.is_object()) return false;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() == "ParamRef") return true;
    if (it.value().is_structured() && mentionsParameter(it.value(), depth + 1)) return true;
  }
  return false;
}

void collectStores(const json& stmt, LineageReader& reader, OutputLineage* out) {
  StoreCollector(reader, out).stores(stmt, 0);
}

void assignedValue(const json& val, LineageReader& reader, ColumnLineage* out) {
  const json* multi = field(val, "MultiAssignRef");
  const json* source = multi == nullptr ? nullptr : field(*multi, "source");
  const json* colno = multi == nullptr ? nullptr : field(*multi, "colno");
  if (source != nullptr && colno != nullptr && colno->is_number_integer()) {
    const int64_t i = colno->get<int64_t>() - 1;
    const json* row = field(*source, "RowExpr");
    const json* args = row == nullptr ? nullptr : field(*row, "args");
    // ROW(c.*) expands c's columns: then no argument is at its position (the whole source).
    if (args != nullptr && args->is_array() && !anyStarExpansion(*args) && i >= 0 &&
        i < static_cast<int64_t>(args->size())) {
      return reader.readExpression((*args)[static_cast<size_t>(i)], out, false);
    }
    const json* link = field(*source, "SubLink");
    const json* sub = link == nullptr ? nullptr : field(*link, "subselect");
    std::string_view kind;
    const json* body = nullptr;
    if (sub != nullptr && unwrap(*sub, &kind, &body) && kind == "SelectStmt") {
      std::vector<ColumnLineage> head, tail;
      bool star = false;
      reader.readSelect(*body, &head, &tail, &star);
      if (!star && tail.empty() && i >= 0 && i < static_cast<int64_t>(head.size())) {
        *out = head[static_cast<size_t>(i)];
        return;
      }
    }
  }
  reader.readExpression(val, out, false);
}

}  // namespace tollgate::policy::sql
