// Per-session catalog of domains and composite types (type_catalog.h).
#include "sidecar/postgres/type_catalog.h"

#include <charconv>
#include <functional>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace tollgate::sidecar::postgres {
namespace {

constexpr int kMaxDomainChain = 32;  // domains over domains; a cycle cannot exist, but stop
constexpr int kMaxTypeDepth = 64;    // composites nested in composites, for ruleInside()
// How long reading a view's definition may wait for the locks it takes.
constexpr int kViewLockTimeoutMs = 2000;
// Types below it are the server's own (FirstNormalObjectId).
constexpr uint32_t kFirstUserOid = 16384;

// The server's own schemas: their views and functions are not the database's.
constexpr char kSystemSchemas[] =
    "('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace)";

// The attnum column of a view or function row (-1 definition, 0 name, 1.. columns), or of a
// table row (1: foreign).
std::optional<int> parseAttnum(const ValueList::Value& v) {
  if (!v) return std::nullopt;
  int out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return out;
}

std::optional<uint32_t> parseOid(const ValueList::Value& v) {
  if (!v || v->empty()) return std::nullopt;
  uint32_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return out;
}

}  // namespace

std::string TypeCatalog::query(int server_major, bool view_definitions) {
  // Multirange types came with PostgreSQL 14.
  const std::string multirange = server_major >= 14 ? "g.rngmultitypid" : "0::pg_catalog.oid";
  // Views and materialized views of the database's own schemas; its functions and procedures
  // there that no extension owns.
  const std::string user_views =
      std::string("v.relkind IN ('v', 'm') AND v.relnamespace NOT IN ") + kSystemSchemas;
  const std::string user_functions =
      std::string("p.pronamespace NOT IN ") + kSystemSchemas +
      " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
      "'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e')";
  const std::string child_row = std::to_string(kChildRowEvent);
  // An update of the referencing rows fires the trigger: an UPDATE one, or an INSERT or
  // DELETE one of a partition a row may move from or to.
  const std::string updated = "(up.ev & 16 <> 0 OR (up.ev & " + std::to_string(kMovedRowEvent) +
                              " <> 0 AND up.ev & 12 <> 0))";
  return
      // The job's own settings (startup parameters) must not cut it short or change what its
      // names mean: no timeout, and only pg_catalog on the search path.
      // pg_get_viewdef locks the tables a view reads (AccessShareLock): a table held or queued
      // for ALTER TABLE must not hold the login up for good.
      "BEGIN READ ONLY; SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '" +
      std::to_string(kViewLockTimeoutMs) +
      "ms'; "
      "SET LOCAL idle_in_transaction_session_timeout = 0; SET LOCAL search_path = pg_catalog; " +
      // jit came with PostgreSQL 11.
      std::string(server_major != 0 && server_major < 11 ? "" : "SET LOCAL jit = off; ") +
      std::string(server_major >= 17 ? "SET LOCAL transaction_timeout = 0; " : "") +
      // The name column is text: a union's column takes its first branch's type, and as name
      // it would cut view definitions at 63 bytes.
      "SELECT t.typtype, t.oid, CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.typarray END, "
      // A domain's array type goes where a composite's field type does.
      "a.attname::pg_catalog.text, CASE t.typtype WHEN 'd' THEN t.typarray ELSE a.atttypid END, "
      "a.attnum "
      "FROM pg_catalog.pg_type t "
      "LEFT JOIN pg_catalog.pg_class c ON t.typtype = 'c' AND c.oid = t.typrelid "
      "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
      "AND NOT a.attisdropped "
      "WHERE t.typtype = 'd' OR (t.typtype = 'c' AND (c.relkind = 'c' OR t.oid IN ("
      // A table's row type used as a column type or returned by a function (`RETURNS cards`,
      // `SETOF cards`, `cards[]`), directly, as an array element or through a domain.
      "SELECT CASE WHEN xt.typelem <> 0 THEN xt.typelem WHEN xt.typtype = 'd' "
      "THEN xt.typbasetype ELSE xt.oid END "
      "FROM pg_catalog.pg_type xt WHERE xt.oid >= 16384 AND xt.oid IN ("
      "SELECT x.atttypid FROM pg_catalog.pg_attribute x "
      "WHERE x.attnum > 0 AND NOT x.attisdropped UNION "
      "SELECT p.prorettype FROM pg_catalog.pg_proc p)))) "
      "UNION ALL "
      "SELECT 't', a.atttypid, a.attrelid, a.attname, a.atttypid, a.attnum "
      "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class r ON r.oid = a.attrelid "
      "JOIN pg_catalog.pg_type y ON y.oid = a.atttypid "
      "LEFT JOIN pg_catalog.pg_type e ON e.oid = y.typelem "
      "WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped "
      "AND a.atttypid >= 16384 AND (y.typtype IN ('c', 'd', 'r', 'm') OR e.typtype IN ('c', 'd')) "
      "UNION ALL "
      // Tables: name, then columns, one text with ',' between and '\\' before ',' and '\\' in
      // them. Not those whose name a system relation shares (pg_stats): unqualified, the name
      // may be that one. One more than kMaxTables says there are too many.
      "(SELECT 'l', r.oid, 0::pg_catalog.oid, (SELECT pg_catalog.string_agg("
      "pg_catalog.replace(pg_catalog.replace(x, pg_catalog.chr(92), pg_catalog.chr(92) || "
      "pg_catalog.chr(92)), ',', pg_catalog.chr(92) || ','), ',' ORDER BY o) "
      "FROM (SELECT r.relname::pg_catalog.text, -1 UNION ALL "
      "SELECT a.attname::pg_catalog.text, a.attnum FROM pg_catalog.pg_attribute a "
      "WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped) s(x, o)), "
      // 1 for a foreign table, or one a write may reach foreign tables through (a partitioned
      // table or inheritance parent with a foreign one below it).
      "0::pg_catalog.oid, (r.relkind = 'f' OR (r.relhassubclass AND r.oid IN ("
      "WITH RECURSIVE up(o) AS (SELECT i.inhparent FROM pg_catalog.pg_inherits i "
      "JOIN pg_catalog.pg_class f ON f.oid = i.inhrelid WHERE f.relkind = 'f' UNION "
      "SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.o) "
      "SELECT o FROM up)))::pg_catalog.int4 FROM pg_catalog.pg_class r "
      "WHERE r.relkind IN ('r', 'p', 'f') AND r.relnamespace NOT IN " +
      kSystemSchemas +
      " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class y WHERE y.relname = r.relname AND "
      "y.relnamespace IN " +
      kSystemSchemas + ") LIMIT " + std::to_string(kMaxTables + 1) +
      ") UNION ALL "
      // Triggers running one of the database's own functions, and rules, on each relation, also
      // under the names of its partitioned tables and inheritance parents (a write through
      // those reaches it) and of the tables its foreign keys reference with an ON DELETE or
      // ON UPDATE action (a write of those writes it): function (0 for a rule), the table
      // whose rows NEW and OLD are when not the one named (rows), relation name, events
      // (tgtype's bits).
      "(WITH RECURSIVE up(rel, fn, ev, rows) AS (SELECT * FROM (SELECT g.tgrelid, g.tgfoid, "
      "g.tgtype::pg_catalog.int4 & 60, 0::pg_catalog.oid FROM pg_catalog.pg_trigger g "
      "WHERE g.tgfoid >= 16384 AND g.tgenabled <> 'D' UNION ALL SELECT w.ev_class, "
      "0::pg_catalog.oid, CASE w.ev_type WHEN '2' THEN 16 WHEN '3' THEN 4 WHEN '4' THEN 8 "
      "ELSE 60 END, 0::pg_catalog.oid FROM pg_catalog.pg_rewrite w WHERE w.ev_type <> '1') s "
      "UNION SELECT x.rel, up.fn, x.ev, x.rows FROM up CROSS JOIN LATERAL ("
      "SELECT i.inhparent, up.ev | " +
      // relispartition came with PostgreSQL 10. A rule applies to the relation named only.
      (server_major != 0 && server_major < 10
           ? child_row
           : "CASE WHEN k.relispartition THEN " + std::to_string(kMovedRowEvent) + " ELSE " +
                 child_row + " END") +
      ", up.rows FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class k ON k.oid = up.rel "
      "WHERE i.inhrelid = up.rel AND up.fn <> 0 UNION ALL "
      // Deleting a referenced row deletes (CASCADE) or updates (SET NULL, SET DEFAULT) the
      // rows referencing it, not those of inheritance children; updating its key updates them.
      // An update through a partitioned table may move a row (kMovedRowEvent). TRUNCATE ...
      // CASCADE truncates the referencing tables. Rules apply to what the action runs too.
      "SELECT f.confrelid, (CASE WHEN up.ev & " +
      child_row +
      " <> 0 THEN 0 WHEN (f.confdeltype = 'c' AND up.ev & 8 <> 0) OR (f.confdeltype IN "
      "('n', 'd') AND " +
      updated + ") THEN 8 ELSE 0 END) | (CASE WHEN up.ev & " + child_row +
      " = 0 AND f.confupdtype IN ('c', 'n', 'd') AND " + updated +
      " THEN 16 ELSE 0 END) | (up.ev & 32), CASE up.rows WHEN 0 THEN up.rel ELSE up.rows END "
      "FROM pg_catalog.pg_constraint f WHERE f.conrelid = up.rel AND f.contype = 'f'"
      ") x(rel, ev, rows) WHERE x.ev & 60 <> 0) "
      "SELECT 'g', up.fn, up.rows, c.relname::pg_catalog.text, 0::pg_catalog.oid, "
      "up.ev FROM up JOIN pg_catalog.pg_class c ON c.oid = up.rel) UNION ALL "
      "SELECT 'r', g.rngtypid, g.rngsubtype, NULL, " +
      multirange +
      ", 0 FROM pg_catalog.pg_range g WHERE g.rngtypid >= 16384 "
      // Views: definition (-1), name (0), columns (1..).
      "UNION ALL "
      "SELECT 'v', v.oid, v.reltype, CASE n.k WHEN -1 THEN " +
      std::string(view_definitions ? "pg_catalog.pg_get_viewdef(v.oid)" : "NULL") +
      " ELSE v.relname::pg_catalog.text END, "
      "0::pg_catalog.oid, n.k "
      "FROM pg_catalog.pg_class v, (VALUES (-1), (0)) n(k) WHERE " +
      user_views +
      " UNION ALL "
      "SELECT 'v', v.oid, v.reltype, a.attname::pg_catalog.text, 0::pg_catalog.oid, "
      "a.attnum FROM pg_catalog.pg_class v JOIN pg_catalog.pg_attribute a ON a.attrelid = v.oid "
      "AND a.attnum > 0 AND NOT a.attisdropped WHERE " +
      user_views +
      " UNION ALL "
      "SELECT 'p', p.oid, p.prorettype, CASE n.k WHEN -1 THEN pg_catalog.pg_get_functiondef(p.oid) "
      "ELSE p.proname::pg_catalog.text END, 0::pg_catalog.oid, n.k "
      "FROM pg_catalog.pg_proc p, (VALUES (-1), (0)) n(k) WHERE " +
      // pg_get_functiondef refuses aggregates; prokind came with PostgreSQL 11.
      std::string(server_major != 0 && server_major < 11 ? "NOT p.proisagg AND NOT p.proiswindow "
                                                         : "p.prokind IN ('f', 'p') ") +
      "AND " + user_functions + " ORDER BY 1, 2, 6; COMMIT";
}

bool TypeCatalog::addRow(const ValueList& columns) {
  if (columns.size() != 6) return false;
  ValueList::Value v[6];
  int n = 0;
  for (auto value : columns) v[n++] = value;
  if (v[0] && *v[0] == "l") {
    // Tables have limits of their own (kMaxTables, kMaxTableBytes): past them a `*` counts as
    // any column again, and the login goes on.
    const uint32_t oid = parseOid(v[1]).value_or(0);
    // Not said to be a local one: foreign (the composite exemption then does not hold).
    return oid != 0 && v[3] && addTable(oid, *v[3], parseAttnum(v[5]).value_or(1) != 0);
  }
  if (rows_ >= kMaxRows) {
    truncated_ = true;
    return false;
  }
  if (v[0] && *v[0] == "g") {
    if (!v[3] || v[3]->empty()) return false;
    // What does not read: a rule (not followed), for any event.
    // Rows of a table it cannot name: of one it does not hold (wider_rows).
    triggers_[std::string(*v[3])].push_back(Trigger{parseOid(v[1]).value_or(0),
                                                    parseAttnum(v[5]).value_or(kAnyRowEvent),
                                                    parseOid(v[2]).value_or(1)});
    ++rows_;
    return true;
  }
  const ValueList::Value& kind = v[0];
  const ValueList::Value& name = v[3];  // attnum (v[5]) orders the rows of these kinds
  const std::optional<uint32_t> oid = parseOid(v[1]), other = parseOid(v[2]),
                                field_type = parseOid(v[4]);
  if (!kind || kind->size() != 1 || !oid || *oid == 0) return false;
  switch ((*kind)[0]) {
    case 'd':
      if (!other || *other == 0 || *other == *oid) return false;
      domains_[*oid] = *other;
      if (field_type && *field_type != 0) domain_arrays_[*field_type] = *oid;
      break;
    case 'r':
      if (!other || *other == 0) return false;
      ranges_[*oid] = *other;
      if (field_type && *field_type != 0) multiranges_[*field_type] = *other;
      break;
    case 'v': {
      const std::optional<int> attnum_or = parseAttnum(v[5]);
      if (!attnum_or) return false;
      const int attnum = *attnum_or;
      // A definition may be NULL (not analysed); names and columns may not, nor be empty.
      if ((!name || name->empty()) && attnum != -1) return false;
      View& view = views_[*oid];
      if (other) view.row_type = *other;
      if (attnum == -1) {
        if (name) view.definition = std::string(*name);
      } else if (attnum == 0) {
        view.name = std::string(*name);
      } else {
        view.columns.emplace_back(*name);
      }
      break;
    }
    case 'p': {
      const std::optional<int> attnum = parseAttnum(v[5]);
      if (!attnum || !name || name->empty()) return false;
      Function& f = functions_[*oid];
      if (other) f.result_type = *other;
      if (*attnum == -1) {
        f.definition = std::string(*name);
      } else if (*attnum == 0) {
        f.name = std::string(*name);
        function_oids_[f.name].push_back(*oid);
        // A value it returns, cast or converted (`getcard()::text`), carries its type's fields
        // like a column of that type does (typesOfColumn()).
        if (f.result_type >= kFirstUserOid) {
          column_types_[policy::callValueName(f.name)].push_back(f.result_type);
        }
      } else {
        return false;
      }
      break;
    }
    case 't':
      if (!name || name->empty()) return false;
      column_types_[std::string(*name)].push_back(*oid);
      if (other && *other != 0) addTableColumn(*other, *name, *oid);
      break;
    case 'c': {
      auto& fields = composites_[*oid];
      if (other && *other != 0) composite_arrays_[*other] = *oid;
      // A composite type without fields comes as one row with NULL field columns.
      if (!name || !field_type || *field_type == 0) {
        if (name) return false;
        break;
      }
      fields.push_back(Field{std::string(*name), *field_type});
      break;
    }
    default:
      return false;
  }
  ++rows_;
  return true;
}

void TypeCatalog::bindRules(const policy::Masker& masker) {
  field_rules_.clear();
  rule_inside_.clear();
  for (const auto& [oid, fields] : composites_) {
    auto& rules = field_rules_[oid];
    // A view's row type (a function RETURNS SETOF v) has the view's columns as fields: they
    // carry what the view's definition makes them of.
    auto vt = view_row_types_.find(oid);
    for (const Field& f : fields) {
      // Views of one name in several schemas share an entry: every column of that name counts.
      policy::ColumnLineage lineage;
      bool found = false;
      if (vt != view_row_types_.end()) {
        for (const auto& [column, l] : vt->second->columns) {
          if (column != f.name) continue;
          policy::mergeLineage(&lineage, l);
          found = true;
        }
      }
      if (found) addCallResults(&lineage);  // a view column made by a function: code(id)
      rules.push_back(found ? masker.planColumn(lineage.sources, lineage.whole_row).column_rule
                            : masker.planColumn(f.name).column_rule);
    }
  }
  // The first rule inside each type, memoised: each type is solved once, so nested types with
  // many fields cost their field count, not fields^depth. Composite types cannot contain
  // themselves; `visiting` stops a malformed catalog that says otherwise.
  absl::flat_hash_map<uint32_t, bool> visiting;
  std::function<const policy::MaskingRuleSpec*(uint32_t, int)> solve =
      [&](uint32_t type, int depth) -> const policy::MaskingRuleSpec* {
    type = resolve(type);
    if (auto it = rule_inside_.find(type); it != rule_inside_.end()) return it->second;
    if (depth > kMaxTypeDepth || visiting[type]) return nullptr;
    visiting[type] = true;
    const policy::MaskingRuleSpec* rule = nullptr;
    if (auto c = composites_.find(type); c != composites_.end()) {
      const auto& rules = field_rules_[type];
      for (size_t i = 0; i < c->second.size() && rule == nullptr; ++i) {
        rule = rules[i] != nullptr ? rules[i] : solve(c->second[i].type_oid, depth + 1);
      }
    } else {
      bool multirange = false;
      uint32_t inner = compositeOfArray(type);
      if (inner == 0) inner = rangeSubtype(type, &multirange);
      if (inner != 0) rule = solve(inner, depth + 1);
    }
    visiting[type] = false;
    rule_inside_[type] = rule;
    return rule;
  };
  for (const auto& [oid, fields] : composites_) solve(oid, 0);
  for (const auto& [array, element] : composite_arrays_) solve(array, 0);
  for (const auto& [array, domain] : domain_arrays_) solve(array, 0);
  for (const auto& [range, subtype] : ranges_) solve(range, 0);
  for (const auto& [multirange, subtype] : multiranges_) solve(multirange, 0);
}

void TypeCatalog::addFieldNames(uint32_t type_oid, std::vector<std::string>* names,
                                bool* whole_row) const {
  absl::flat_hash_set<uint32_t> seen;
  std::vector<std::pair<uint32_t, int>> pending{{type_oid, 0}};
  while (!pending.empty()) {
    auto [type, depth] = pending.back();
    pending.pop_back();
    type = resolve(type);
    if (!seen.insert(type).second) continue;
    if (depth > kMaxTypeDepth) {
      *whole_row = true;  // not followed to the end
      return;
    }
    auto c = composites_.find(type);
    if (c == composites_.end()) {
      bool multirange = false;
      uint32_t inner = compositeOfArray(type);
      if (inner == 0) inner = rangeSubtype(type, &multirange);
      if (inner != 0) pending.emplace_back(inner, depth + 1);
      continue;
    }
    auto view = view_row_types_.find(type);
    for (const Field& f : c->second) {
      policy::addLineageName(names, f.name);
      pending.emplace_back(f.type_oid, depth + 1);
      if (view == view_row_types_.end()) continue;
      for (const auto& [column, lineage] : view->second->columns) {
        if (column != f.name) continue;
        for (const std::string& s : lineage.sources) policy::addLineageName(names, s);
        *whole_row = *whole_row || lineage.whole_row;
      }
    }
  }
}

const policy::MaskingRuleSpec* TypeCatalog::fieldRule(uint32_t type_oid, size_t index) const {
  auto it = field_rules_.find(resolve(type_oid));
  return it == field_rules_.end() || index >= it->second.size() ? nullptr : it->second[index];
}

const policy::MaskingRuleSpec* TypeCatalog::ruleInside(uint32_t type_oid) const {
  auto it = rule_inside_.find(resolve(type_oid));
  return it == rule_inside_.end() ? nullptr : it->second;
}

uint32_t TypeCatalog::resolve(uint32_t type_oid) const {
  for (int i = 0; i < kMaxDomainChain; ++i) {
    auto it = domains_.find(type_oid);
    if (it == domains_.end()) return type_oid;
    type_oid = it->second;
  }
  return type_oid;
}

const std::vector<TypeCatalog::Field>* TypeCatalog::fieldsOf(uint32_t type_oid) const {
  auto it = composites_.find(resolve(type_oid));
  return it == composites_.end() ? nullptr : &it->second;
}

uint32_t TypeCatalog::rangeSubtype(uint32_t type_oid, bool* multirange) const {
  type_oid = resolve(type_oid);
  *multirange = false;
  if (auto it = ranges_.find(type_oid); it != ranges_.end()) return it->second;
  auto it = multiranges_.find(type_oid);
  if (it == multiranges_.end()) return 0;
  *multirange = true;
  return it->second;
}

uint32_t TypeCatalog::compositeOf(uint32_t type_oid) const {
  const uint32_t base = resolve(type_oid);
  return composites_.contains(base) ? base : compositeOfArray(type_oid);
}

const std::vector<uint32_t>* TypeCatalog::typesOfColumn(std::string_view name) const {
  auto it = column_types_.find(absl::string_view(name.data(), name.size()));
  return it == column_types_.end() ? nullptr : &it->second;
}

uint32_t TypeCatalog::compositeOfArray(uint32_t array_oid) const {
  array_oid = resolve(array_oid);
  if (auto it = composite_arrays_.find(array_oid); it != composite_arrays_.end()) return it->second;
  // An array of a domain over a composite type.
  auto d = domain_arrays_.find(array_oid);
  if (d == domain_arrays_.end()) return 0;
  const uint32_t element = resolve(d->second);
  return composites_.contains(element) ? element : 0;
}

}  // namespace tollgate::sidecar::postgres
