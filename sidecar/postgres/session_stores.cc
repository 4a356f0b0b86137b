// PostgreSQL session, what writes store (masking.copies) as the login catalog resolves it: a
// `*` over tables, composite values, and the statements that make the catalog's tables stale.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {

namespace {

// Whether stored entry `k` of `lineage` is one column stored unchanged (OutputLineage::bare_stores)
// whose name no sub-select, CTE, view or function in the statement defines: `SET card2 = card`,
// not `SET card2 = x.c FROM (SELECT card::text AS c ...) x`. `t.col` may also be the call col(t),
// which the session resolves: a source of its own, unless it is nothing but that name.
bool storedUnchanged(const policy::OutputLineage& lineage, size_t k) {
  if (std::find(lineage.bare_stores.begin(), lineage.bare_stores.end(), k) ==
      lineage.bare_stores.end()) {
    return false;
  }
  const policy::ColumnLineage& value = lineage.stored[k].second;
  if (value.whole_row || value.sources.empty()) return false;
  const std::string& column = value.sources.front();
  for (const std::string& source : value.sources) {
    if (source != column && source != policy::callName(column)) return false;
  }
  // A name the statement defines anywhere may be that definition, whatever it made of the
  // column (SELECT regexp_replace(card::text, ...) AS card).
  return std::none_of(lineage.renames.begin(), lineage.renames.end(),
                      [&](const auto& rename) { return rename.first == column; });
}

}  // namespace

policy::QueryFactsPtr PostgresSession::withStoresResolved(policy::QueryFactsPtr facts,
                                                          bool tables_untrusted) const {
  if (catalog_ == nullptr) return facts;
  std::shared_ptr<policy::QueryFacts> resolved;  // a copy, made at the first change
  auto lineageOf = [&](size_t statement) -> policy::OutputLineage& {
    if (!resolved) resolved = std::make_shared<policy::QueryFacts>(*facts);
    return resolved->statements[statement].lineage;
  };
  auto stored = [&](size_t statement, size_t index) -> policy::ColumnLineage& {
    return lineageOf(statement).stored[index].second;
  };
  const bool tables = !tables_untrusted && catalog_->hasTables();
  for (size_t i = 0; i < facts->statements.size(); ++i) {
    const policy::OutputLineage& lineage = facts->statements[i].lineage;
    for (const auto& [index, star_tables] : lineage.star_tables) {
      if (!tables || index >= lineage.stored.size()) continue;
      std::vector<std::string> columns;
      bool known = true;
      for (const std::string& table : star_tables) {
        known = known && catalog_->tableColumns(table, &columns);
      }
      // A column of one of the database's own types: resolved below only for named sources.
      known = known && std::none_of(columns.begin(), columns.end(), [&](const std::string& c) {
                return catalog_->typesOfColumn(c) != nullptr;
              });
      if (!known) continue;
      policy::ColumnLineage& value = stored(i, index);
      value.whole_row = false;
      for (const std::string& column : columns) policy::addLineageName(&value.sources, column);
      lineageOf(i).catalog_resolved = true;
    }
    if (!catalog_->hasTypedColumns()) continue;
    // A value of a composite type carries its fields (note = card::text, where card's type has
    // a cvv field): judged by their names. Not a column stored unchanged into a column of its
    // own composite type (card2 = card, the written table's card2 of card's type): the fields
    // keep their names. Any expression may move a field into another (row(card::text, 'x')).
    const std::vector<std::string>& writes = facts->statements[i].writes;
    for (size_t k = 0; k < lineage.stored.size(); ++k) {
      const policy::ColumnLineage& value = lineage.stored[k].second;
      std::vector<std::string> fields;
      absl::flat_hash_set<uint32_t> types;
      bool whole = false;
      for (const std::string& source : value.sources) {
        bool ignored = false;
        for (const std::string& name : lineage.closure(source, &ignored)) {
          const std::vector<uint32_t>* of = catalog_->typesOfColumn(name);
          if (of == nullptr) continue;
          for (uint32_t type : *of) {
            if (types.insert(type).second) catalog_->addFieldNames(type, &fields, &whole);
          }
        }
      }
      if (fields.empty() && !whole) continue;  // domains and ranges over scalars carry no fields
      const bool trusted = !catalog_->stale() && !tables_untrusted;
      if (trusted && storedUnchanged(lineage, k) && writes.size() == 1 &&
          catalog_->keepsFields(writes.front(), lineage.stored[k].first, types)) {
        // Judged by the column's type as the catalog has it: ALTER TABLE ... TYPE text could
        // change that, so a prepared statement is judged again once tables may have changed.
        lineageOf(i).catalog_resolved = true;
        continue;
      }
      policy::ColumnLineage& out = stored(i, k);
      for (const std::string& f : fields) policy::addLineageName(&out.sources, f);
      // The session may have changed a type since the catalog was read (marked stale once the
      // change ran; tables_untrusted from when it was sent): its fields are not known.
      if (!trusted) {
        out.whole_row = true;  // judged as any column already: no need to judge it again
      } else {
        out.whole_row = out.whole_row || whole;
        lineageOf(i).catalog_resolved = true;
      }
    }
  }
  return resolved ? resolved : facts;
}

policy::QueryFactsPtr PostgresSession::resolvedFacts(policy::QueryFactsPtr facts,
                                                     size_t sql_bytes) {
  // EXECUTE's arguments are a stored value too.
  facts = withExecutesResolved(withCatalogResolved(std::move(facts), sql_bytes));
  // Resolved: the functions the views it reads call count too.
  const bool untrusted = tablesUntrusted(*facts);
  return withStoresResolved(std::move(facts), untrusted);
}

bool PostgresSession::tablesUntrusted(const policy::QueryFacts& facts) const {
  if (tables_may_have_changed_ || catalog_ == nullptr) return true;
  const size_t count = facts.statements.size();
  for (size_t i = 0; i < count; ++i) {
    const policy::StatementFacts& st = facts.statements[i];
    if (mayChangeCatalog(st) || (i + 1 < count && st.fires_table_changes)) return true;
  }
  return false;
}

void PostgresSession::noteTableChanges(const policy::QueryFacts& facts) {
  if (catalog_ == nullptr || (tables_may_have_changed_ && catalog_->stale())) return;
  for (const policy::StatementFacts& st : facts.statements) {
    if (changesTables(st)) {
      tablesMayHaveChanged();
      // Types too, from its own rows on (SELECT f() where f, or a trigger its write fires,
      // runs ALTER TYPE rec ... and f returns a rec); once it ran, noteTypeChange() again
      // for its transaction.
      catalogMayHaveChanged();
      return;
    }
  }
}

void PostgresSession::tablesMayHaveChanged() {
  if (tables_may_have_changed_ || catalog_ == nullptr) return;
  tables_may_have_changed_ = true;
  // The server analyses a prepared statement again when a table or type it uses changes: a `*`
  // it stores may now hold other columns than those it was judged by, a composite value other
  // fields (ALTER TYPE ... ADD ATTRIBUTE cvv).
  for (const auto& [name, entry] : names_.reachableStatements()) {
    if (!entry->refusal) entry->refusal = staleStoresRefusal(kStatementName, name, entry->source);
  }
  // A cursor's query was planned at DECLARE, but the statements of the functions it calls are
  // planned as a FETCH runs them.
  for (const auto& [name, portal] : names_.reachablePortals()) {
    if (portal->cursor && !portal->refusal) {
      portal->refusal = staleStoresRefusal(kCursorName, name, portal->source);
    }
  }
}

std::optional<std::pair<Refusal, size_t>> PostgresSession::staleInQuery(
    const policy::QueryFacts& facts) const {
  // Once they may have changed, tablesMayHaveChanged() refused such statements already.
  if (tables_may_have_changed_ || catalog_ == nullptr) return {};
  bool changed = false;
  const size_t count = facts.statements.size();
  for (size_t i = 0; i < count; ++i) {
    const policy::StatementFacts& st = facts.statements[i];
    if (changed) {
      if (auto run = runs_.namedRun(facts, i)) {
        if (auto r = staleStoresRefusal(run->kind, st.lineage.uses, *run->source)) {
          return std::make_pair(std::move(*r), i);
        }
      }
    }
    // Nothing follows the last.
    changed = changed || (i + 1 < count && changesTables(st));
  }
  return {};
}

std::optional<Refusal> PostgresSession::staleStoresRefusal(NameKind kind, const std::string& name,
                                                           const StatementRef& source) {
  const policy::StatementFacts* st = source.statement();
  if (st == nullptr || !st->lineage.catalog_resolved) return {};
  static constexpr const char* kKinds[] = {"prepared statement", "cursor", "portal"};
  static constexpr const char* kAgain[] = {"prepare it again", "declare it again",
                                           "prepare its statement and bind it again"};
  return Refusal{
      "masking:copy",
      absl::StrCat("blocked by rule \"masking:copy\": ", kKinds[kind], " \"", name,
                   "\" stores a `*` or a composite value, judged by the columns and "
                   "fields its tables and types had before this session may have "
                   "changed them (DDL, an admin statement, CALL, DO, a call of one of "
                   "the database's functions); ",
                   kAgain[kind], " (a `*` is then judged as any column: name the columns)"),
      std::string(kSqlStateInsufficientPrivilege), ""};
}

}  // namespace tollgate::sidecar::postgres
