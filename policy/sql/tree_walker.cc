// Parse-tree walker: statement class, relations, functions, WHERE presence, nested statements.
//
// Invariant that makes shape caching sound: facts come from node kinds and identifiers only.
// Where a literal's value must be read (EXPLAIN options, DO bodies, SET
// standard_conforming_strings), the result is marked literal_sensitive.
#include "policy/sql/tree_walker.h"

#include <pg_query.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/json_fields.h"
#include "policy/sql/options.h"
#include "policy/sql/plpgsql.h"
#include "policy/sql/settings_access.h"
#include "policy/sql/statement_table.h"

namespace tollgate::policy::sql {
namespace {

using nlohmann::json;
using C = StatementClass;

constexpr int kMaxDepth = 2000;  // JSON levels followed (about 250 nested sub-selects)
constexpr int kMaxDoDepth = 3;   // DO bodies parsed inside DO bodies

C fromSeverity(int s) {
  static constexpr C kBySeverity[] = {C::kRead, C::kWrite, C::kDdl, C::kAdmin};
  return kBySeverity[std::clamp(s, 0, 3)];
}

void addUnique(std::vector<std::string>* v, std::string s) {
  if (s.empty()) return;
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(std::move(s));
}

class Walker {
 public:
  explicit Walker(WalkResult* out) : out_(out), facts_(&out->facts) {}

  void top(const json& stmt) {
    std::string_view kind;
    const json* body = nullptr;
    if (!unwrap(stmt, &kind, &body)) {
      facts_->type = "unknown";
      facts_->cls = C::kAdmin;
      return;
    }
    const C base = statement(kind, *body, /*top=*/true);
    for (const auto& name : single_refs_) {
      if (std::find(row_names_.begin(), row_names_.end(), name) != row_names_.end()) {
        facts_->row_reference = true;
      }
    }
    if (escalation_ < 0) {
      facts_->cls = base;
    } else {
      facts_->cls = fromSeverity(std::max(classSeverity(base), escalation_));
    }
  }

 private:
  // --- statements -------------------------------------------------------------------------

  C statement(std::string_view kind, const json& body, bool top) {
    std::string derived;
    const StatementKind k = statementKind(kind, &derived);
    std::string type(k.type);
    C cls = k.cls;
    if (kind == "SelectStmt") {
      cls = select(body);
      if (selectInto(body) != nullptr) type = "select_into";
    } else if (kind == "InsertStmt" || kind == "UpdateStmt" || kind == "DeleteStmt" ||
               kind == "MergeStmt") {
      dml(kind, body);
    } else if (kind == "ExplainStmt") {
      cls = explain(body);
    } else if (kind == "PrepareStmt" || kind == "DeclareCursorStmt") {
      cls = inner(body, "query", C::kRead);
    } else if (kind == "CreateTableAsStmt") {
      if (str(body, "objtype") == "OBJECT_MATVIEW") type = "create_materialized_view";
      if (const json* into = field(body, "into")) targets(*into, "rel");
      inner(body, "query", C::kRead);
    } else if (kind == "ViewStmt") {
      targets(body, "view");
      inner(body, "query", C::kRead);
    } else if (kind == "CopyStmt") {
      cls = copy(body);
    } else if (kind == "DoStmt") {
      doBlock(body);
    } else if (kind == "VariableSetStmt") {
      cls = set(body, &type);
    } else if (kind == "TransactionStmt") {
      cls = transaction(body, &type);
    } else if (kind == "VacuumStmt") {
      type = flag(body, "is_vacuumcmd") ? "vacuum" : "analyze";
      generic(body);
    } else if (kind == "GrantStmt" || kind == "GrantRoleStmt") {
      if (!flag(body, "is_grant")) type = kind == "GrantStmt" ? "revoke" : "revoke_role";
      generic(body);
    } else if (kind == "FetchStmt") {
      if (flag(body, "ismove")) type = "move";
    } else if (kind == "DropStmt") {
      drop(body);
    } else if (kind == "LockStmt" && lockMode(body) == kAccessShareLock) {
      // ACCESS SHARE is the lock every SELECT takes, and pg_dump takes on each table it
      // dumps: it holds back only ACCESS EXCLUSIVE (DDL). Stronger modes hold back writers.
      cls = C::kRead;
      walkFieldsExcept(body, {});
    } else {
      generic(body);
    }
    if (top) {
      facts_->type = std::move(type);
    } else if (type != "select") {
      addUnique(&facts_->inner_types, std::move(type));
    }
    return cls;
  }

  static constexpr int64_t kAccessShareLock = 1;  // AccessShareLock in lockdefs.h

  static int64_t lockMode(const json& body) {
    const json* mode = field(body, "mode");
    return mode != nullptr && mode->is_number_integer() ? mode->get<int64_t>() : 0;
  }

  // Walks body[key] (a statement node) as a nested statement; returns its class or `dflt`.
  C inner(const json& body, const char* key, C dflt) {
    const json* q = field(body, key);
    std::string_view kind;
    const json* qbody = nullptr;
    if (q == nullptr || !unwrap(*q, &kind, &qbody)) return dflt;
    return statement(kind, *qbody, /*top=*/false);
  }

  C select(const json& body) {
    C cls = C::kRead;
    const bool scoped = pushWith(body);
    if (const json* into = selectInto(body)) {
      targets(*into, "rel");
      cls = C::kDdl;
    }
    if (field(body, "lockingClause") != nullptr) {
      escalate(C::kWrite);
      if (cls == C::kRead) cls = C::kWrite;
    }
    std::string saved_setting = std::move(settings_row_);
    settings_row_ = settingsRowName(body, cteNamed("pg_settings"));
    walkFieldsExcept(body, {"withClause", "intoClause"});
    settings_row_ = std::move(saved_setting);
    if (scoped) ctes_.pop_back();
    return cls;
  }

  void dml(std::string_view kind, const json& body) {
    const bool scoped = pushWith(body);
    targets(body, "relation");
    if ((kind == "UpdateStmt" || kind == "DeleteStmt") && !plan_only_ &&
        field(body, "whereClause") == nullptr) {
      facts_->has_where = false;
    }
    if (const json* conflict = field(body, "onConflictClause");
        conflict != nullptr && str(*conflict, "action") == "ONCONFLICT_UPDATE") {
      facts_->upserts = true;
    }
    walkFieldsExcept(body, {"withClause", "relation"});
    // UPDATE pg_settings SET setting = v WHERE name = 'x' is set_config('x', v) by the view's
    // rule, with neither the name nor the value judged: a privilege matter.
    const bool settings = isSettingsView(field(body, "relation"), cteNamed("pg_settings"));
    if (scoped) ctes_.pop_back();
    escalate(settings ? C::kAdmin : C::kWrite);
  }

  C explain(const json& body) {
    bool analyze = false;
    if (const json* options = field(body, "options"); options != nullptr && options->is_array()) {
      for (const json& opt : *options) {
        const json* d = field(opt, "DefElem");
        if (d == nullptr) continue;
        const std::string_view name = str(*d, "defname");
        if (name != "analyze" && name != "analyse") continue;
        if (field(*d, "arg") != nullptr) out_->literal_sensitive = true;  // ANALYZE 'off'
        analyze = analyze || optionTrue(*d);
      }
    }
    if (analyze) return inner(body, "query", C::kRead);
    const bool saved = plan_only_;
    plan_only_ = true;
    inner(body, "query", C::kRead);
    plan_only_ = saved;
    return C::kRead;
  }

  C copy(const json& body) {
    const bool from = flag(body, "is_from");
    if (const json* rel = field(body, "relation")) {
      if (from) {
        targets(body, "relation");
      } else {
        walk(*rel);
      }
    }
    inner(body, "query", C::kRead);
    if (const json* where = field(body, "whereClause")) walk(*where);
    if (flag(body, "is_program") || field(body, "filename") != nullptr) return C::kAdmin;
    if (!from) {
      const json* options = field(body, "options");
      // Options are string literals: facts must not be shared across their values.
      if (options != nullptr) out_->literal_sensitive = true;
      facts_->copy_out = copyOutFormat(options);
    }
    return from ? C::kWrite : C::kRead;
  }

  C set(const json& body, std::string* type) {
    const std::string_view kind = str(body, "kind");
    if (kind == "VAR_RESET" || kind == "VAR_RESET_ALL") {
      *type = "reset";
      return C::kOther;
    }
    const std::string name = asciiLower(str(body, "name"));
    if (name == "client_encoding" && kind != "VAR_SET_DEFAULT") {  // also SET NAMES
      out_->literal_sensitive = true;
      const json* args = field(body, "args");
      facts_->sets_client_encoding = args != nullptr && args->is_array() && args->size() == 1
                                         ? constantValue((*args)[0])
                                         : std::string();
    }
    if (name == "transaction" || name == "session characteristics") {
      *type = "set_transaction";
      return readWriteRequested(field(body, "args")) ? C::kWrite : C::kTransaction;
    }
    if (isPrivilegedSetting(name)) return C::kAdmin;
    const bool scs = name == "standard_conforming_strings";
    if ((scs || isReadOnlySetting(name)) && kind != "VAR_SET_DEFAULT") {
      // Turned off, standard_conforming_strings would make the server lex later statements
      // differently from this analyser, and default_transaction_read_only would let a read
      // grant's transactions write.
      out_->literal_sensitive = true;
      const json* args = field(body, "args");
      const bool on = args != nullptr && args->is_array() && args->size() == 1 &&
                      isTrueWord(constantValue((*args)[0]));
      return on ? C::kOther : scs ? C::kAdmin : C::kWrite;
    }
    return C::kOther;
  }

  C transaction(const json& body, std::string* type) {
    const C c = transactionKind(str(body, "kind"), type);
    return readWriteRequested(field(body, "options")) ? C::kWrite : c;
  }

  void drop(const json& body) {
    static constexpr std::string_view kRelationKinds[] = {
        "OBJECT_TABLE", "OBJECT_VIEW",     "OBJECT_MATVIEW",
        "OBJECT_INDEX", "OBJECT_SEQUENCE", "OBJECT_FOREIGN_TABLE"};
    const std::string_view kind = str(body, "removeType");
    if (std::find(std::begin(kRelationKinds), std::end(kRelationKinds), kind) ==
        std::end(kRelationKinds)) {
      return;
    }
    const json* objects = field(body, "objects");
    if (objects == nullptr || !objects->is_array()) return;
    for (const json& o : *objects) {
      const json* list = field(o, "List");
      const json* items = list == nullptr ? nullptr : field(*list, "items");
      if (items != nullptr) addWrite(dottedName(*items));
    }
  }

  // DDL and everything else: relation-holding fields are targets, the rest is walked.
  void generic(const json& body) {
    if (!body.is_object()) return;
    for (auto it = body.begin(); it != body.end(); ++it) {
      const std::string& key = it.key();
      if (key == "relation" || key == "relations" || key == "view" || key == "table" ||
          key == "rels" || key == "objects" || key == "sequence") {
        const bool saved = target_mode_;
        target_mode_ = true;
        walk(it.value());
        target_mode_ = saved;
      } else if (it.value().is_structured()) {
        walk(it.value());
      }
    }
  }

  void doBlock(const json& body) {
    std::string_view code;
    std::string language = "plpgsql";
    if (const json* args = field(body, "args"); args != nullptr && args->is_array()) {
      for (const json& a : *args) {
        const json* d = field(a, "DefElem");
        const json* arg = d == nullptr ? nullptr : field(*d, "arg");
        const json* s = arg == nullptr ? nullptr : field(*arg, "String");
        if (s == nullptr) continue;
        if (str(*d, "defname") == "as") code = str(*s, "sval");
        if (str(*d, "defname") == "language") language = asciiLower(str(*s, "sval"));
      }
    }
    out_->literal_sensitive = true;
    if (language != "plpgsql" || do_depth_ >= kMaxDoDepth) return;
    std::vector<std::string> queries;
    bool dynamic = false;
    if (!plpgsqlQueries(code, &queries, &dynamic)) return;
    ++do_depth_;
    for (const std::string& q : queries) embedded(q);
    --do_depth_;
  }

  // Parses one PL/pgSQL statement or expression and walks it as nested statements.
  void embedded(const std::string& text) {
    std::string sql = text;
    if (!parseAndWalk(sql)) {
      const size_t assign = sql.find(":=");
      if (assign != std::string::npos) sql = sql.substr(assign + 2);
      parseAndWalk("SELECT " + sql);
    }
  }

  bool parseAndWalk(const std::string& sql) {
    return forEachStatement(sql, [this](const json& node) { walk(node); });
  }

  // --- scopes, targets, generic walk ------------------------------------------------------

  // Walks the CTEs of body's WITH clause and pushes their names as a scope; returns whether
  // a scope was pushed. A non-recursive CTE sees only the CTEs before it.
  bool pushWith(const json& body) {
    const json* with = field(body, "withClause");
    if (with == nullptr) return false;
    const json* w =
        with->is_object() && with->contains("WithClause") ? field(*with, "WithClause") : with;
    ctes_.emplace_back();
    const json* list = field(*w, "ctes");
    if (list == nullptr || !list->is_array()) return true;
    const bool recursive = flag(*w, "recursive");
    if (recursive) {
      for (const json& c : *list) {
        if (const json* cte = field(c, "CommonTableExpr")) {
          ctes_.back().emplace_back(str(*cte, "ctename"));
        }
      }
    }
    for (const json& c : *list) {
      const json* cte = field(c, "CommonTableExpr");
      if (cte == nullptr) continue;
      if (const json* q = field(*cte, "ctequery")) walk(*q);
      if (!recursive) ctes_.back().emplace_back(str(*cte, "ctename"));
    }
    return true;
  }

  void targets(const json& body, const char* key) {
    const json* f = field(body, key);
    if (f == nullptr) return;
    const bool saved = target_mode_;
    target_mode_ = true;
    walk(*f);
    target_mode_ = saved;
  }

  void walkFieldsExcept(const json& body, std::initializer_list<std::string_view> skip) {
    if (!body.is_object()) return;
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (std::find(skip.begin(), skip.end(), it.key()) != skip.end()) continue;
      if (it.value().is_structured()) walk(it.value());
    }
  }

  void walk(const json& v) {
    if (depth_ >= kMaxDepth) {
      out_->too_deep = true;
      return;
    }
    ++depth_;
    if (v.is_array()) {
      for (const json& e : v) {
        if (e.is_structured()) walk(e);
      }
    } else if (v.is_object() && v.contains("relname") && v.contains("relpersistence")) {
      relation(v);  // a RangeVar held directly by a field ("relation": {...})
    } else if (v.is_object() && v.contains("funcname") && v.contains("funcformat")) {
      function(v);  // a FuncCall held directly by a field (CALL's "funccall")
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        if (!key.empty() && key[0] >= 'A' && key[0] <= 'Z') {
          node(key, it.value());
        } else if (key == "intoClause") {
          // The target of SELECT ... INTO on a set operation's leftmost arm: select() counted
          // it as written (selectInto()); nowhere else is INTO allowed.
        } else if (it.value().is_structured()) {
          walk(it.value());
        }
      }
    }
    --depth_;
  }

  void node(std::string_view kind, const json& body) {
    if (kind == "A_Const") return;  // literal values never feed a fact
    if (kind == "RangeVar") {
      relation(body);
    } else if (kind == "FuncCall") {
      function(body);
    } else if (kind == "ColumnRef") {
      columnRef(body);
    } else if (kind.size() > 4 && kind.substr(kind.size() - 4) == "Stmt") {
      // A nested statement: its own target fields are not ours.
      const bool saved = target_mode_;
      target_mode_ = false;
      escalate(statement(kind, body, /*top=*/false));
      target_mode_ = saved;
    } else {
      walk(body);
    }
  }

  void relation(const json& rv) {
    std::string name;
    for (const char* part : {"catalogname", "schemaname"}) {
      const std::string_view p = str(rv, part);
      if (!p.empty()) {
        name.append(p);
        name.push_back('.');
      }
    }
    const bool qualified = !name.empty();
    name.append(str(rv, "relname"));
    addUnique(&row_names_, std::string(str(rv, "relname")));
    if (const json* alias = field(rv, "alias")) {
      if (const json* a = field(*alias, "Alias")) {
        addUnique(&row_names_, std::string(str(*a, "aliasname")));
      } else {
        addUnique(&row_names_, std::string(str(*alias, "aliasname")));
      }
    }
    if (target_mode_) {
      addWrite(std::move(name));
      return;
    }
    if (!qualified && cteNamed(name)) return;
    addUnique(&facts_->reads, std::move(name));
  }

  void function(const json& body) {
    const json* names = field(body, "funcname");
    if (names != nullptr && names->is_array() && !names->empty()) {
      std::string last;
      if (const json* s = field(names->back(), "String")) last = std::string(str(*s, "sval"));
      // Which setting it changes is a literal: facts must not be shared across values.
      if (last == "set_config") {
        out_->literal_sensitive = true;
        if (auto enc = setConfigEncoding(field(body, "args"), settings_row_)) {
          facts_->sets_client_encoding = *std::move(enc);
        }
      }
      if (last == "set_config" && harmlessSetConfig(field(body, "args"), settings_row_)) {
        // set_config('search_path', '', false) is SET search_path: pg_dump and many tools
        // start with it. It stays out of the admin class like the SET it stands for.
      } else if (isDangerousFunction(last)) {
        escalate(C::kAdmin);
      } else if (isWritingFunction(last)) {
        escalate(C::kWrite);
      }
      addUnique(&facts_->functions, dottedName(*names));
    }
    walkFieldsExcept(body, {"funcname"});
  }

  // t.pg_read_file is functional notation for pg_read_file(t) when the types fit.
  void columnRef(const json& body) {
    const json* fields = field(body, "fields");
    if (fields == nullptr || !fields->is_array() || fields->empty()) return;
    const json* last = field(fields->back(), "String");
    if (last == nullptr) {
      facts_->row_reference = true;  // `*` or `t.*`
    } else {
      const std::string_view name = str(*last, "sval");
      addUnique(&facts_->columns, std::string(name));
      // A one-part name may be a table or alias used as a whole row (`SELECT c::text FROM
      // cards c`): decided once the statement's relations are known.
      if (fields->size() == 1) addUnique(&single_refs_, std::string(name));
    }
    if (fields->size() < 2) return;
    if (last != nullptr && isDangerousFunction(str(*last, "sval"))) {
      escalate(C::kAdmin);
      addUnique(&facts_->functions, std::string(str(*last, "sval")));
    }
  }

  // A CTE of this name is in scope (it shadows a table or view of the name).
  bool cteNamed(std::string_view name) const {
    for (const auto& scope : ctes_) {
      if (std::find(scope.begin(), scope.end(), name) != scope.end()) return true;
    }
    return false;
  }

  void addWrite(std::string name) {
    if (plan_only_) {
      addUnique(&facts_->reads, std::move(name));
    } else {
      addUnique(&facts_->writes, std::move(name));
    }
  }

  void escalate(C c) {
    if (plan_only_ && c != C::kAdmin) return;
    if (classSeverity(c) < 1) return;  // reading never changes a statement's class
    escalation_ = std::max(escalation_, classSeverity(c));
  }

  WalkResult* out_;
  StatementFacts* facts_;
  // Relation names and aliases, and one-part column references (see columnRef()).
  std::vector<std::string> row_names_;
  std::vector<std::string> single_refs_;
  std::vector<std::vector<std::string>> ctes_;
  std::string settings_row_;  // see settingsRowName()
  int escalation_ = -1;
  int depth_ = 0;
  int do_depth_ = 0;
  bool plan_only_ = false;
  bool target_mode_ = false;
};

}  // namespace

const json* onlyStatement(const json& tree) {
  const json* stmts = field(tree, "stmts");
  if (stmts == nullptr || !stmts->is_array() || stmts->size() != 1) return nullptr;
  return field(stmts->front(), "stmt");
}

json parseTree(std::string_view sql) {
  PgQueryParseResult r = pg_query_parse(std::string(sql).c_str());
  json tree = r.error == nullptr && r.parse_tree != nullptr
                  ? json::parse(r.parse_tree, nullptr, /*allow_exceptions=*/false)
                  : json(json::value_t::discarded);
  pg_query_free_parse_result(r);
  return tree;
}

WalkResult walkStatement(const json& stmt) {
  WalkResult result;
  Walker walker(&result);
  walker.top(stmt);
  return result;
}

}  // namespace tollgate::policy::sql
