// Function result lineage from pg_get_functiondef text (function_lineage.h).
#include "policy/sql/function_lineage.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "policy/sql/json_fields.h"
#include "policy/sql/plpgsql.h"
#include "policy/sql/tree_walker.h"

namespace tollgate::policy {
namespace {

using nlohmann::json;
using sql::field;
using sql::parseTree;
using sql::str;

// List nesting followed in a BEGIN ATOMIC body, JSON nesting in a parameter's default.
constexpr int kMaxDepth = 64;

void markUnknown(FunctionLineage* out) {
  out->result.whole_row = out->result.reshaped = true;
  out->row_reference = true;
}

// A body, or part of one, that cannot be read: it may do anything, change tables too.
void markOpaque(FunctionLineage* out) {
  markUnknown(out);
  out->may_change_tables = true;
}

// A type name (TypeName node) of a built-in scalar type, which cannot carry a row: pg_catalog's
// numbers, strings, times, booleans, uuid, bytea, and arrays of them. JSON may hold a row.
bool isScalarType(const json* type) {
  if (type == nullptr) return false;
  const json* names = field(*type, "names");
  if (names == nullptr || !names->is_array() || names->empty()) return false;
  if (names->size() == 2) {
    const json* schema = field(names->front(), "String");
    if (schema == nullptr || str(*schema, "sval") != "pg_catalog") return false;
  } else if (names->size() != 1) {
    return false;
  }
  const json* last = field(names->back(), "String");
  const std::string_view name = last == nullptr ? std::string_view() : str(*last, "sval");
  static constexpr std::string_view kScalars[] = {
      "int2",   "int4",    "int8",  "integer", "bigint",  "smallint",  "numeric",     "float4",
      "float8", "real",    "money", "text",    "varchar", "bpchar",    "char",        "name",
      "bool",   "boolean", "date",  "time",    "timetz",  "timestamp", "timestamptz", "interval",
      "uuid",   "bytea",   "oid",   "inet",    "cidr",    "macaddr",   "bit",         "varbit"};
  return std::find(std::begin(kScalars), std::end(kScalars), name) != std::end(kScalars);
}

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

// At `i`: the word `lower` (case-insensitive), not part of a longer word.
bool wordAt(std::string_view s, size_t i, std::string_view lower) {
  if (i + lower.size() > s.size() || (i > 0 && isWordChar(s[i - 1]))) return false;
  for (size_t k = 0; k < lower.size(); ++k) {
    char c = s[i + k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[k]) return false;
  }
  return i + lower.size() == s.size() || !isWordChar(s[i + lower.size()]);
}

size_t skipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

// libpg_query's PL/pgSQL parser does not know a function's OUT parameters as its result, so it
// refuses the bare `RETURN NEXT;` that returns them. Each becomes `RETURN NEXT NULL;`, which
// reads nothing. Text inside a string or a comment may change too: it stays a string or a
// comment, and no query the body runs changes.
std::string withBareReturnNextFilled(std::string_view body) {
  std::string out;
  size_t copied = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    if (!wordAt(body, i, "return")) continue;
    const size_t next = skipSpace(body, i + 6);
    if (next == i + 6 || !wordAt(body, next, "next")) continue;
    const size_t semi = skipSpace(body, next + 4);
    if (semi >= body.size() || body[semi] != ';') continue;
    out.append(body.substr(copied, semi - copied));
    out += " NULL";
    copied = semi;
    i = semi;
  }
  out.append(body.substr(copied));
  return out;
}

class Reader {
 public:
  Reader(const std::vector<std::string>* row_fields, FunctionLineage* out)
      : row_fields_(row_fields), out_(out) {}

  void read(const json& create) {
    out_->parsed = true;
    if (const json* names = field(create, "funcname"); names != nullptr && names->is_array()) {
      std::vector<std::string_view> parts;
      for (const json& n : *names) {
        if (const json* s = field(n, "String")) parts.push_back(str(*s, "sval"));
      }
      if (!parts.empty()) out_->name = std::string(parts.back());
      if (parts.size() >= 2) out_->schema = std::string(parts[parts.size() - 2]);
    }
    readParameters(field(create, "parameters"));
    if (row_parameter_) markUnknown(out_);
    const json* ret = field(create, "returnType");
    returns_set_ = ret != nullptr && sql::flag(*ret, "setof");
    if (ret != nullptr) {
      const json* names = field(*ret, "names");
      const json* last = names != nullptr && names->is_array() && !names->empty()
                             ? field(names->back(), "String")
                             : nullptr;
      returns_void_ = last != nullptr && str(*last, "sval") == "void";
      returns_trigger_ = last != nullptr && str(*last, "sval") == "trigger";
    } else {
      returns_void_ = true;  // a procedure
    }

    std::string language = "sql";
    std::string_view body;
    bool has_body = false;
    if (const json* options = field(create, "options"); options != nullptr && options->is_array()) {
      for (const json& o : *options) {
        const json* d = field(o, "DefElem");
        const json* arg = d == nullptr ? nullptr : field(*d, "arg");
        if (arg == nullptr) continue;
        if (str(*d, "defname") == "language") {
          if (const json* s = field(*arg, "String")) {
            language = absl::AsciiStrToLower(std::string(str(*s, "sval")));
          }
        } else if (str(*d, "defname") == "as") {
          // AS 'body', or AS 'file', 'symbol' for C functions.
          const json* list = field(*arg, "List");
          const json* items = list == nullptr ? nullptr : field(*list, "items");
          if (items != nullptr && items->is_array() && !items->empty()) {
            if (const json* s = field(items->front(), "String")) {
              body = str(*s, "sval");
              has_body = true;
            }
          }
        }
      }
    }
    if (const json* atomic = field(create, "sql_body")) {
      // BEGIN ATOMIC ... END, or RETURN expr: the statements come parsed.
      if (language != "sql") return markOpaque(out_);
      atomicBody(*atomic, 0);
      if (!returns_void_ && !last_known_) markUnknown(out_);
      return;
    }
    if (!has_body) {
      markOpaque(out_);
    } else if (language == "sql") {
      // The last statement's rows are the result: one whose result columns cannot be followed
      // may return anything.
      if (!queries(std::string(body))) {
        markOpaque(out_);
      } else if (!returns_void_ && !last_known_) {
        markUnknown(out_);
      }
    } else if (language == "plpgsql") {
      plpgsql_ = true;
      plpgsql(body);
    } else {
      markOpaque(out_);  // C, PL/Python, ...: what it reads and does cannot be seen
    }
    // A trigger function that cannot be read whole (dynamic SQL, another language) may store
    // the written row anywhere: any of its columns (NEW). What else it reads is not followed,
    // as for a call of such a function.
    if (returns_trigger_ && out_->may_change_tables) {
      ColumnLineage row;
      row.sources.emplace_back("new");
      out_->stored.emplace_back(std::string(), std::move(row));
    }
  }

 private:
  void readParameters(const json* params) {
    if (params == nullptr || !params->is_array()) return;
    for (const json& p : *params) {
      const json* fp = field(p, "FunctionParameter");
      if (fp == nullptr) continue;
      const std::string_view mode = str(*fp, "mode");
      const std::string_view name = str(*fp, "name");
      const bool output =
          mode == "FUNC_PARAM_OUT" || mode == "FUNC_PARAM_INOUT" || mode == "FUNC_PARAM_TABLE";
      if (const json* def = field(*fp, "defexpr")) defaultCalls(*def, 0);
      named_outputs_ = named_outputs_ || output;
      if (output && !name.empty()) outputs_.emplace_back(name);
      // A parameter of a row type (`f(cards)`, called as c.f) carries the whole row into the
      // body, whatever the body takes from it.
      if (!output && !isScalarType(field(*fp, "argType"))) row_parameter_ = true;
      if (mode != "FUNC_PARAM_OUT" && mode != "FUNC_PARAM_TABLE" && !name.empty()) {
        inputs_.emplace_back(name);
      }
      // The signature the PL/pgSQL parser is given: its variables are the parameters' names,
      // types play no part. RETURNS TABLE columns are OUT parameters to it.
      if (!signature_.empty()) signature_ += ", ";
      if (mode == "FUNC_PARAM_OUT" || mode == "FUNC_PARAM_TABLE") {
        signature_ += "OUT ";
      } else if (mode == "FUNC_PARAM_INOUT") {
        signature_ += "INOUT ";
      } else if (mode == "FUNC_PARAM_VARIADIC") {
        signature_ += "VARIADIC ";
      }
      if (!name.empty()) {
        signature_ += '"';
        for (char c : name) {
          signature_ += c;
          if (c == '"') signature_ += '"';
        }
        signature_ += "\" ";
      }
      signature_ += mode == "FUNC_PARAM_VARIADIC" ? "text[]" : "text";
    }
  }

  // Adds one statement: what its result columns are made of, what it reads, the columns it
  // names.
  void statement(const json& stmt) {
    const sql::WalkResult walked = sql::walkStatement(stmt);
    const StatementFacts& facts = walked.facts;
    StatementClass cls = facts.cls;
    if (const json* ret = field(stmt, "ReturnStmt")) {
      // RETURN expr (a SQL-standard body) is no statement the analyser classes: the class of
      // SELECT expr (a function the walker counts as admin, such as dblink_exec, makes it so).
      const json* value = field(*ret, "returnval");
      cls = value == nullptr ? StatementClass::kRead
                             : sql::walkStatement(json{{"SelectStmt", selectOf(*value)}}).facts.cls;
    }
    if (cls == StatementClass::kDdl || cls == StatementClass::kAdmin || facts.type == "call" ||
        facts.type == "do" || facts.type == "commit_prepared" || walked.too_deep) {
      out_->may_change_tables = true;
      out_->runs_ddl = true;
    }
    if (!facts.writes.empty()) {
      StatementFacts& w = out_->writes.emplace_back();
      w.writes = facts.writes;
      w.type = facts.type;
      w.inner_types = facts.inner_types;
      w.upserts = facts.upserts;
    }
    for (const std::string& r : walked.facts.reads) addLineageName(&out_->reads, r);
    for (const std::string& c : walked.facts.columns) addLineageName(&out_->columns, c);
    for (const std::string& f : walked.facts.functions) addLineageName(&out_->called, f);
    out_->row_reference = out_->row_reference || walked.facts.row_reference || walked.too_deep;
    const OutputLineage l = sql::outputLineage(stmt, &variables_);
    out_->stores_arguments = out_->stores_arguments || l.stores_parameters;
    for (size_t k = 0; k < l.stored.size(); ++k) {
      const auto& [target, value] = l.stored[k];
      ColumnLineage c;
      bool renamed_whole = false;  // a whole row through a rename, not a `*` over tables
      for (const std::string& s : value.sources) {
        for (const std::string& n : l.closure(s, &renamed_whole)) addLineageName(&c.sources, n);
      }
      c.whole_row = value.whole_row || renamed_whole || l.opaque;
      for (const std::string& n : c.sources) {
        if (std::find(inputs_.begin(), inputs_.end(), n) != inputs_.end()) {
          out_->stores_arguments = true;
        }
      }
      out_->stored.emplace_back(target, std::move(c));
      for (const auto& [index, tables] : l.star_tables) {
        // NEW.* and OLD.* are a trigger's written row only in a trigger function, and where no
        // variable of that name hides them (DECLARE new cards := ...).
        const bool rows = std::find(tables.begin(), tables.end(), kTriggerRowStar) != tables.end();
        const bool hidden = std::any_of(variables_.begin(), variables_.end(), isTriggerRowName);
        if (index == k && !renamed_whole && (!rows || (returns_trigger_ && !hidden))) {
          out_->star_tables.emplace_back(out_->stored.size() - 1, tables);
        }
      }
    }
    // CREATE TABLE t AS SELECT * FROM v keeps v's column names, which may rename a masked
    // column (at statement level the session judges it by the views reached; here the body
    // creates a table, so the login's columns are not trusted anyway): any column.
    if (l.stores_star) {
      ColumnLineage any;
      any.whole_row = true;
      out_->stored.emplace_back(std::string(), std::move(any));
    }
    last_known_ = l.known;
    if (!l.known) return;
    for (size_t i = 0; i < l.head.size(); ++i) {
      const ColumnLineage& c = l.head[i];
      if (!intact(l, i)) add(l, c);
    }
    for (const ColumnLineage& c : l.tail) add(l, c);
    if (l.opaque) markUnknown(out_);  // a VALUES row's `x.*` moved its items
    if (l.star) {
      add(l, l.unnamed);
      // `*` passes the columns on under their own names, which only a row type result keeps,
      // and only when it expands one relation read whole (`SELECT * FROM cards WHERE ...`): a
      // sub-select or a join may put a column at another field's position. Under OUT
      // parameters or a scalar result they may be anything.
      const bool one_relation = walked.facts.reads.size() == 1 && l.renames.empty();
      if (named_outputs_ || row_fields_ == nullptr || plpgsql_ || !one_relation) {
        markUnknown(out_);
      }
    }
  }

  // SELECT `value` as libpg_query gives it (the body of a SelectStmt node).
  static json selectOf(const json& value) {
    return json{{"targetList", json::array({json{{"ResTarget", json{{"val", value}}}}})},
                {"limitOption", "LIMIT_OPTION_DEFAULT"},
                {"op", "SETOP_NONE"}};
  }

  // The functions a parameter's default expression calls (FuncCall nodes), as listed names.
  void defaultCalls(const json& v, int depth) {
    if (depth > kMaxDepth) return markOpaque(out_);
    if (v.is_array()) {
      for (const json& e : v) defaultCalls(e, depth + 1);
      return;
    }
    if (!v.is_object()) return;
    if (const json* call = field(v, "FuncCall")) {
      std::string listed;
      if (const json* names = field(*call, "funcname"); names != nullptr && names->is_array()) {
        for (const json& n : *names) {
          const json* s = field(n, "String");
          if (s == nullptr) continue;
          if (!listed.empty()) listed += '.';
          listed += str(*s, "sval");
        }
      }
      addLineageName(&out_->called, listed);
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->is_structured()) defaultCalls(*it, depth + 1);
    }
  }

  // The row type's field i is the column of its own name, renamed nowhere in the statement: the
  // field's name masks it. Not in PL/pgSQL, whose variables carry values from query to query.
  bool intact(const OutputLineage& l, size_t i) const {
    if (row_fields_ == nullptr || plpgsql_ || l.star || i >= row_fields_->size()) return false;
    const ColumnLineage& c = l.head[i];
    // Its sources: the column, and `col()` when qualified (t.col may call function col(t); the
    // session resolves that name on its own).
    const std::string& field = (*row_fields_)[i];
    if (c.whole_row) return false;
    for (const std::string& s : c.sources) {
      if (s != field && s != callName(field)) return false;
    }
    bool whole_row = false;
    return l.closure(field, &whole_row).size() == 1 && !whole_row;
  }

  void add(const OutputLineage& l, const ColumnLineage& c) {
    ColumnLineage& out = out_->result;
    for (const std::string& s : c.sources) {
      for (const std::string& n : l.closure(s, &out.whole_row, &out.reshaped)) {
        addLineageName(&out.sources, n);
      }
    }
    out.whole_row = out.whole_row || c.whole_row;
    out.reshaped = out.reshaped || c.reshaped;
  }

  // Parses `sql` and adds each statement; false when it does not parse.
  bool queries(const std::string& sql) {
    return sql::forEachStatement(sql, [this](const json& node) { statement(node); });
  }

  void atomicBody(const json& v, int depth) {
    if (depth > kMaxDepth) return markOpaque(out_);
    if (v.is_array()) {
      for (const json& e : v) atomicBody(e, depth + 1);
      return;
    }
    std::string_view kind;
    const json* inner = nullptr;
    if (!sql::unwrap(v, &kind, &inner)) return;
    if (kind == "List") {
      if (const json* items = field(*inner, "items")) atomicBody(*items, depth + 1);
    } else {
      statement(v);
    }
  }

  void plpgsql(std::string_view body) {
    // A trigger function's body has NEW and OLD, and may assign to NEW's fields.
    const std::string signature = "(" + signature_ + ") RETURNS " + (returns_set_ ? "SETOF " : "") +
                                  (returns_trigger_ ? "trigger"
                                   : returns_void_  ? "void"
                                   : named_outputs_ ? "record"
                                                    : "text");
    sql::PlpgsqlBody b;
    if (!sql::readPlpgsql(withBareReturnNextFilled(body), signature, &b) || b.dynamic) {
      return markOpaque(out_);  // EXECUTE 'SELECT ' || col: anything
    }
    variables_ = std::move(b.variables);
    for (const std::string& q : b.queries) {
      // A statement, or an expression (`x > 1`, `v := upper(cvv)`): what it computes may be
      // returned (RETURN, RETURN NEXT, an OUT variable).
      if (queries(q)) continue;
      const size_t assign = q.find(":=");
      if (!queries("SELECT " + (assign == std::string::npos ? q : q.substr(assign + 2)))) {
        markOpaque(out_);
      }
    }
    // What each variable may hold, followed from variable to variable.
    for (const sql::VariableStore& store : b.stores) {
      if (!store.new_row) mergeLineage(&held_[store.variable], valueOf(store));
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (auto& [name, value] : held_) {
        const size_t before = value.sources.size();
        const bool whole = value.whole_row;
        holding(&value);
        changed = changed || value.sources.size() != before || value.whole_row != whole;
      }
    }
    // The body's statements store, and it returns, what the variables they name hold; its
    // output parameters are returned (filled by GET DIAGNOSTICS or CALL, named by no
    // expression).
    for (const std::string& o : outputs_) addLineageName(&out_->result.sources, o);
    holding(&out_->result);
    for (size_t k = 0; k < out_->stored.size(); ++k) {
      ColumnLineage& value = out_->stored[k].second;
      // A variable that may hold any column: the value is no longer a `*` over tables only.
      if (std::any_of(value.sources.begin(), value.sources.end(), [&](const std::string& n) {
            auto it = held_.find(n);
            return it != held_.end() && it->second.whole_row;
          })) {
        std::erase_if(out_->star_tables, [&](const auto& s) { return s.first == k; });
      }
      holding(&value);
      if (namesInput(value)) out_->stores_arguments = true;
    }
    for (const sql::VariableStore& store : b.stores) {
      if (store.new_row) newRowStore(store);
    }
  }

  // What `store` puts into its variable or NEW's field: names its value is made of, variables
  // among them (holding() follows those).
  ColumnLineage valueOf(const sql::VariableStore& store) {
    ColumnLineage value;
    if (store.unknown) {
      value.whole_row = true;
    } else if (store.error_text) {
      // An error raised inside the body may quote any column it names.
      value.sources = out_->columns;
      value.whole_row = out_->row_reference;
    } else if (!store.alias_of.empty()) {
      if (store.alias_of.front() == '$') {
        inputs_.push_back(store.variable);  // an alias of a parameter is one
      } else {
        value.sources.push_back(store.alias_of);
      }
    } else {
      const json tree = parseTree(store.query);
      const json* stmt = sql::onlyStatement(tree);
      const OutputLineage l =
          stmt != nullptr ? sql::outputLineage(*stmt, &variables_) : OutputLineage();
      // `v := $1`: a parameter by number, which the lineage does not name.
      if (stmt != nullptr && sql::mentionsParameter(*stmt)) {
        addLineageName(&value.sources, kParameterName);
      }
      // The result column stored, or every one (by position).
      auto take = [&](const ColumnLineage& c) {
        value.whole_row = value.whole_row || c.whole_row;
        for (const std::string& s : c.sources) {
          for (const std::string& n : l.closure(s, &value.whole_row)) {
            addLineageName(&value.sources, n);
          }
        }
      };
      if (!l.known || l.star || l.opaque) {
        value.whole_row = true;
      } else if (store.row) {
        for (const ColumnLineage& c : l.head) take(c);
        for (const ColumnLineage& c : l.tail) take(c);
      } else if (store.column < l.head.size()) {
        take(l.head[store.column]);
      } else {
        value.whole_row = true;  // past the columns the lineage names one by one
      }
    }
    return value;
  }

  // Adds to `value` what the variables it names hold.
  void holding(ColumnLineage* value) const {
    const std::vector<std::string> names = value->sources;
    for (const std::string& n : names) {
      auto it = held_.find(n);
      if (it != held_.end() && &it->second != value) mergeLineage(value, it->second);
    }
  }

  bool namesInput(const ColumnLineage& value) const {
    return std::any_of(value.sources.begin(), value.sources.end(), [&](const std::string& n) {
      return n == kParameterName || std::find(inputs_.begin(), inputs_.end(), n) != inputs_.end();
    });
  }

  // What a variable holding a parameter referred to by number ($1) holds: no column can have
  // this name unquoted, and no masking rule matches it.
  static constexpr std::string_view kParameterName = "$";

  // A store into a trigger's NEW row (`NEW.note := NEW.cvv` in a BEFORE trigger): into that
  // column of the written row, what the written statement would store there. One that cannot be
  // followed stores anything.
  void newRowStore(const sql::VariableStore& store) {
    ColumnLineage value = valueOf(store);
    holding(&value);
    // NEW := OLD (or NEW): each column keeps a value of its own.
    if (store.field.empty() && !value.whole_row && !value.sources.empty() &&
        std::all_of(value.sources.begin(), value.sources.end(), isTriggerRowName)) {
      return;
    }
    if (namesInput(value)) out_->stores_arguments = true;
    out_->stored.emplace_back(store.field, std::move(value));
  }

  const std::vector<std::string>* row_fields_;
  FunctionLineage* out_;
  std::string signature_;
  std::vector<std::string> inputs_;   // names of its input parameters
  std::vector<std::string> outputs_;  // and of its OUT, INOUT and TABLE ones
  // A PL/pgSQL body's variables, and what each may hold (names, variables' among them).
  std::vector<std::string> variables_;
  std::map<std::string, ColumnLineage> held_;
  bool named_outputs_ = false;
  bool row_parameter_ = false;
  bool plpgsql_ = false;
  bool last_known_ = false;  // the last statement read had a result that could be followed
  bool returns_set_ = false;
  bool returns_void_ = false;
  bool returns_trigger_ = false;
};

}  // namespace

FunctionLineage functionLineage(std::string_view definition,
                                const std::vector<std::string>* row_fields) {
  FunctionLineage out;
  const json tree = parseTree(definition);
  const json* stmt = sql::onlyStatement(tree);
  const json* create = stmt == nullptr ? nullptr : field(*stmt, "CreateFunctionStmt");
  if (create != nullptr) Reader(row_fields, &out).read(*create);
  if (!out.parsed) markOpaque(&out);
  return out;
}

}  // namespace tollgate::policy
