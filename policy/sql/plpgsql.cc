// PL/pgSQL body extraction through pg_query_parse_plpgsql.
#include "policy/sql/plpgsql.h"

#include <pg_query.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "policy/sql/json_fields.h"
#include "policy/sql/sql_lexer.h"
#include "policy/sql/tree_walker.h"

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

// A datum number (varno, target, dno, recparentno): libpg_query leaves a field out of its
// JSON when it is 0, the function's first datum (its first parameter).
int datumNumber(const json& o, const char* key) {
  const json* f = field(o, key);
  if (f == nullptr) return 0;
  return f->is_number_integer() ? f->get<int>() : -1;
}

// The text of the PL/pgSQL expression at `key` of `stmt`, or nullopt.
std::optional<std::string_view> exprText(const json& stmt, const char* key) {
  const json* expr = field(stmt, key);
  const json* e = expr == nullptr ? nullptr : field(*expr, "PLpgSQL_expr");
  if (e == nullptr) return std::nullopt;
  return str(*e, "query");
}

// The query PL/pgSQL runs for an expression's value (`x := <expr>`, a DECLARE default, a loop
// bound): a SELECT of it, ended by a line break in case it ends in a comment.
std::string selectOf(std::string_view expr) { return "SELECT " + std::string(expr) + "\n"; }

// The datum numbers of a list of variables (PLpgSQL_row's fields), in order.
std::vector<int> rowFieldNumbers(const json& row) {
  std::vector<int> out;
  const json* fields = field(row, "fields");
  if (fields == nullptr || !fields->is_array()) return out;
  for (const json& f : *fields) out.push_back(datumNumber(f, "varno"));
  return out;
}

// The function's variables (datums) and NEW's and OLD's numbers, to tell what a statement
// stores into.
struct Datums {
  int new_varno = -1;
  int old_varno = -1;
  const json* datums = nullptr;
  std::vector<VariableStore>* out = nullptr;
  const std::vector<std::string>* variables = nullptr;  // their names

  bool isVariable(std::string_view name) const {
    return variables != nullptr &&
           std::find(variables->begin(), variables->end(), name) != variables->end();
  }
  // What `name` names through ALIAS declarations (`n ALIAS FOR NEW`: "new"), at most a few
  // aliases deep.
  std::string_view resolveAlias(std::string_view name) const {
    for (int hops = 0; out != nullptr && hops < 8; ++hops) {
      auto it = std::find_if(out->begin(), out->end(), [&](const VariableStore& s) {
        return !s.alias_of.empty() && s.variable == name;
      });
      if (it == out->end()) break;
      name = it->alias_of;
    }
    return name;
  }
};

int intField(const json& o, const char* key) {
  const json* f = field(o, key);
  return f != nullptr && f->is_number_integer() ? f->get<int>() : -1;
}

// Datum `n`'s node of kind `kind` (PLpgSQL_var, PLpgSQL_rec, PLpgSQL_recfield, PLpgSQL_row).
const json* datum(int n, const char* kind, const Datums& d) {
  if (n < 0 || d.datums == nullptr || static_cast<size_t>(n) >= d.datums->size()) return nullptr;
  return field((*d.datums)[n], kind);
}

// A store into datum `n`, its value still to be given; nullopt for a datum that holds no
// data of the body's (a row of an INTO list is taken apart by the caller).
std::optional<VariableStore> storeInto(int n, const Datums& d) {
  VariableStore s;
  int rec = n;
  if (const json* rf = datum(n, "PLpgSQL_recfield", d)) {
    rec = datumNumber(*rf, "recparentno");
    s.field = std::string(str(*rf, "fieldname"));
  }
  if (rec >= 0 && rec == d.new_varno) {
    s.new_row = true;
    return s;
  }
  if (rec >= 0 && rec == d.old_varno) {
    // OLD written to may become the row stored (NEW := OLD, RETURN OLD): as NEW itself, with
    // a value not followed.
    s.new_row = true;
    s.field.clear();
    s.unknown = true;
    return s;
  }
  const json* v = datum(rec, "PLpgSQL_var", d);
  if (v == nullptr) v = datum(rec, "PLpgSQL_rec", d);
  if (v == nullptr) return std::nullopt;
  s.variable = std::string(str(*v, "refname"));
  s.field.clear();  // a field of a record: the record, which is what the body names
  if (s.variable.empty()) return std::nullopt;
  return s;
}

void add(std::optional<VariableStore> s, const Datums& d) {
  if (!s) return;
  // NEW itself takes every column by position.
  if (s->new_row && s->field.empty()) s->row = true;
  d.out->push_back(std::move(*s));
}

// The stores into datum `n`, a list of variables (PLpgSQL_row: FOREACH a, b IN ARRAY) taken
// apart, each taking every column of the value: their values still to be given.
std::vector<VariableStore> storesInto(int n, const Datums& d) {
  std::vector<VariableStore> out;
  const json* row = datum(n, "PLpgSQL_row", d);
  if (row == nullptr) {
    if (std::optional<VariableStore> s = storeInto(n, d)) out.push_back(std::move(*s));
    return out;
  }
  for (int field_number : rowFieldNumbers(*row)) {
    std::optional<VariableStore> s = storeInto(field_number, d);
    if (!s) continue;
    s->row = true;
    if (s->new_row && s->field.empty()) s->unknown = true;  // NEW among other variables
    out.push_back(std::move(*s));
  }
  return out;
}

// Adds the stores of a statement whose results go to `target` (INTO, FOR ... IN): a record
// (PLpgSQL_rec) or a list of variables (PLpgSQL_row), by position. A variable alone in the
// list takes every column: it may be a record or of a row type, which libpg_query does not
// tell from a scalar.
void addTargetStores(const json& target, std::string_view query, const Datums& d) {
  std::vector<int> targets;
  if (const json* rec = field(target, "PLpgSQL_rec")) {
    targets.push_back(datumNumber(*rec, "dno"));
  } else if (const json* r = field(target, "PLpgSQL_row")) {
    targets = rowFieldNumbers(*r);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    std::optional<VariableStore> s = storeInto(targets[i], d);
    if (!s) continue;
    s->query = std::string(query);
    s->column = i;
    s->row = targets.size() == 1 && (!s->new_row || s->field.empty());
    // NEW itself among other variables: not followed.
    if (s->new_row && s->field.empty() && targets.size() > 1) s->unknown = true;
    add(std::move(s), d);
  }
}

// The stores of `CALL p(a, NEW.note)`: a variable handed to a procedure may be an INOUT
// argument, given back as anything.
void addCallStores(std::string_view call, const Datums& d) {
  const json tree = sql::parseTree(call);
  const json* stmt = sql::onlyStatement(tree);
  const json* cs = stmt == nullptr ? nullptr : field(*stmt, "CallStmt");
  const json* fc = cs == nullptr ? nullptr : field(*cs, "funccall");  // a FuncCall's body
  const json* args = fc == nullptr ? nullptr : field(*fc, "args");
  if (args == nullptr || !args->is_array()) return;
  for (const json& a : *args) {
    const json* arg = &a;
    if (const json* named = field(a, "NamedArgExpr")) arg = field(*named, "arg");
    const json* ref = arg == nullptr ? nullptr : field(*arg, "ColumnRef");
    const json* names = ref == nullptr ? nullptr : field(*ref, "fields");
    if (names == nullptr || !names->is_array() || names->empty()) continue;
    std::vector<std::string> parts;
    for (const json& n : *names) {
      const json* s = field(n, "String");
      parts.emplace_back(s == nullptr ? std::string_view() : str(*s, "sval"));
    }
    // NEW or its field (OLD's: as NEW itself), qualified by a block label or not, named
    // through an ALIAS or not; otherwise every variable the name may be (`blk.v`, `r.f`), an
    // alias's own.
    for (size_t i = 0; i < parts.size(); ++i) {
      VariableStore s;
      s.unknown = true;
      std::string_view name = d.resolveAlias(parts[i]);
      if (d.new_varno >= 0 && (name == "new" || name == "old")) {
        s.new_row = true;
        if (name == "new" && i + 1 < parts.size()) s.field = parts[i + 1];
        add(std::move(s), d);
        break;
      }
      // An alias of a parameter by number ($1) is a variable of its own name.
      if (!d.isVariable(name)) name = parts[i];
      if (!d.isVariable(name)) continue;
      s.variable = std::string(name);
      add(std::move(s), d);
    }
  }
}

// The stores of statement `kind` (a PLpgSQL_stmt_* node's key).
void addStores(std::string_view kind, const json& stmt, const Datums& d) {
  if (kind == "PLpgSQL_stmt_assign") {
    const std::optional<std::string_view> text = exprText(stmt, "expr");
    std::optional<VariableStore> s = storeInto(datumNumber(stmt, "varno"), d);
    if (!s || !text) return;
    // PL/pgSQL reads `target := <select list> [FROM ...]`: a SELECT of what follows.
    const std::optional<std::string_view> value = assignedValue(*text);
    if (!value) {
      s->unknown = true;
    } else {
      s->query = selectOf(*value);
    }
    add(std::move(s), d);
  } else if (kind == "PLpgSQL_stmt_execsql" || kind == "PLpgSQL_stmt_fors") {
    const json* target = field(stmt, kind == "PLpgSQL_stmt_fors" ? "var" : "target");
    const std::optional<std::string_view> query =
        exprText(stmt, kind == "PLpgSQL_stmt_fors" ? "query" : "sqlstmt");
    if (target != nullptr && query) addTargetStores(*target, *query, d);
  } else if (kind == "PLpgSQL_stmt_fori") {
    // FOR i IN lower..upper BY step: i takes values between them.
    const json* var = field(stmt, "var");
    const json* v = var == nullptr ? nullptr : field(*var, "PLpgSQL_var");
    if (v == nullptr) return;
    for (const char* bound : {"lower", "upper", "step"}) {
      const std::optional<std::string_view> e = exprText(stmt, bound);
      if (!e) continue;
      VariableStore s;
      s.variable = std::string(str(*v, "refname"));
      s.query = selectOf(*e);
      add(std::move(s), d);
    }
  } else if (kind == "PLpgSQL_stmt_call") {
    if (const std::optional<std::string_view> e = exprText(stmt, "expr")) addCallStores(*e, d);
  } else if (kind == "PLpgSQL_stmt_getdiag") {
    const json* items = field(stmt, "diag_items");
    if (items == nullptr || !items->is_array()) return;
    for (const json& item : *items) {
      const json* di = field(item, "PLpgSQL_diag_item");
      // Counts carry no data. A message quotes values of what failed; a detail or hint may
      // quote whole rows ("Failing row contains (...)"), of any table.
      const std::string_view what = di == nullptr ? "" : str(*di, "kind");
      if (what == "ROW_COUNT" || what == "RESULT_OID" || di == nullptr) continue;
      const bool message = what == "MESSAGE_TEXT" || what == "PG_CONTEXT" ||
                           what == "PG_EXCEPTION_CONTEXT" || what == "RETURNED_SQLSTATE";
      for (VariableStore& s : storesInto(datumNumber(*di, "target"), d)) {
        s.error_text = message;
        s.unknown = !message;
        add(std::move(s), d);
      }
    }
  } else if (kind == "PLpgSQL_stmt_foreach_a") {
    // FOREACH x IN ARRAY a: x takes a's elements. Into NEW: not followed.
    const std::optional<std::string_view> e = exprText(stmt, "expr");
    for (VariableStore& s : storesInto(datumNumber(stmt, "varno"), d)) {
      if (s.new_row || !e) {
        s.unknown = true;
      } else {
        s.query = selectOf(*e);
      }
      add(std::move(s), d);
    }
  } else if (kind == "PLpgSQL_stmt_return" && d.new_varno >= 0) {
    // A BEFORE trigger's row is what it returns: another row than NEW, OLD or NULL may hold
    // anything (RETURN r, RETURN (SELECT ...)).
    const std::string_view text = exprText(stmt, "expr").value_or("null");
    const std::string returned = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
    if (returned != "new" && returned != "old" && returned != "null" && !returned.empty()) {
      VariableStore s;
      s.new_row = true;
      s.unknown = true;
      add(std::move(s), d);
    }
  }
}

// The variables' names, and the stores their declarations make: a DECLARE default (`v text :=
// (SELECT cvv ...)`), an exception block's SQLERRM.
void addDeclarations(const Datums& d, std::vector<std::string>* variables) {
  if (d.datums == nullptr) return;
  for (int n = 0; static_cast<size_t>(n) < d.datums->size(); ++n) {
    const json* v = datum(n, "PLpgSQL_var", d);
    if (v == nullptr) v = datum(n, "PLpgSQL_rec", d);
    if (v == nullptr || n == d.new_varno || n == d.old_varno) continue;
    const std::string name(str(*v, "refname"));
    if (name.empty()) continue;
    if (std::find(variables->begin(), variables->end(), name) == variables->end()) {
      variables->push_back(name);
    }
    if (const std::optional<std::string_view> e = exprText(*v, "default_val")) {
      VariableStore s;
      s.variable = name;
      s.query = selectOf(*e);
      add(std::move(s), d);
    }
    if (name == "sqlerrm" && flag(*v, "isconst")) {
      VariableStore s;
      s.variable = name;
      s.error_text = true;
      add(std::move(s), d);
    }
  }
}

// `name ALIAS FOR target` declarations, which leave no variable in libpg_query's tree: a
// scan of the body's tokens (comments and literals gone), names folded as PL/pgSQL folds them.
void addAliases(std::string_view body, std::vector<std::string>* variables,
                std::vector<VariableStore>* out) {
  const std::string text = scrubLiterals(body);
  std::vector<std::string> tokens;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    auto word = [](unsigned char ch) { return std::isalnum(ch) || ch == '_' || ch >= 0x80; };
    if (std::isspace(c)) {
      ++i;
    } else if (c == '"') {
      std::string name;
      for (++i; i < text.size(); ++i) {
        if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          name += '"';
          ++i;
        } else if (text[i] == '"') {
          ++i;
          break;
        } else {
          name += text[i];
        }
      }
      tokens.push_back(std::move(name));
    } else if (word(c) || c == '$') {
      const size_t begin = i;
      for (++i; i < text.size() && (word(text[i]) || text[i] == '$'); ++i) {
      }
      std::string name = text.substr(begin, i - begin);
      absl::AsciiStrToLower(&name);
      tokens.push_back(std::move(name));
    } else {
      tokens.emplace_back(1, static_cast<char>(c));
      ++i;
    }
  }
  for (size_t i = 0; i + 3 < tokens.size(); ++i) {
    if (tokens[i + 1] != "alias" || tokens[i + 2] != "for") continue;
    VariableStore s;
    s.variable = tokens[i];
    // The last name of a qualified one (`blk.v`, `fn.$1`).
    size_t target = i + 3;
    while (target + 2 < tokens.size() && tokens[target + 1] == ".") target += 2;
    s.alias_of = tokens[target];
    if (std::find(variables->begin(), variables->end(), s.variable) == variables->end()) {
      variables->push_back(s.variable);
    }
    out->push_back(std::move(s));
  }
}

// Collects PLpgSQL_expr queries; the tree is walked with an explicit depth bound, past which
// the body counts as dynamic: what it runs is not all seen.
void collect(const json& v, int depth, std::vector<std::string>* queries, bool* dynamic,
             const Datums& d) {
  if (depth > kMaxDepth) {
    *dynamic = true;
    return;
  }
  if (v.is_array()) {
    for (const json& e : v) collect(e, depth + 1, queries, dynamic, d);
    return;
  }
  if (!v.is_object()) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (d.out != nullptr && it.key().starts_with("PLpgSQL_stmt_")) {
      addStores(it.key(), it.value(), d);
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
    if (it.value().is_structured()) collect(it.value(), depth + 1, queries, dynamic, d);
  }
}

// Parses `body` as that of a function with `signature`; `stores`, when given, gets what it
// stores into variables and NEW, `variables` their names.
bool parse(std::string_view body, std::string_view signature, std::vector<std::string>* queries,
           bool* dynamic, std::vector<VariableStore>* stores, std::vector<std::string>* variables) {
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
    Datums d;
    if (ok && stores != nullptr && tree.is_array() && tree.size() == 1) {
      const json* f = field(tree[0], "PLpgSQL_function");
      const json* datums = f == nullptr ? nullptr : field(*f, "datums");
      if (datums != nullptr && datums->is_array()) {
        d = Datums{intField(*f, "new_varno"), intField(*f, "old_varno"), datums, stores, variables};
        addDeclarations(d, variables);
      }
      addAliases(body, variables, stores);
    }
    if (ok) collect(tree, 0, queries, dynamic, d);
  }
  pg_query_free_plpgsql_parse_result(result);
  return ok;
}

}  // namespace

bool plpgsqlQueries(std::string_view body, std::vector<std::string>* queries, bool* dynamic) {
  return parse(body, "() RETURNS void", queries, dynamic, nullptr, nullptr);
}

bool readPlpgsql(std::string_view body, std::string_view signature, PlpgsqlBody* out) {
  return parse(body, signature, &out->queries, &out->dynamic, &out->stores, &out->variables);
}

}  // namespace tollgate::policy::sql
