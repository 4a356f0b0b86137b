// PostgreSQL session, statements resolved with the login catalog before they are judged: the
// views a statement reads and writes (what their columns are made of), the database's own
// functions it calls (what they return and store), and the triggers and rules its writes fire.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

// The triggers and rules a statement's writes fire (TypeCatalog::addTriggerFunctions()).
struct FiredTriggers {
  std::vector<std::string> tables;  // the tables whose rows NEW and OLD are
  bool rule = false;                // a rule rewrites a write: not followed
  bool wider_rows = false;          // NEW and OLD may have columns none of `tables` has
};

// Adds to `functions` the trigger functions `st`'s writes run: those of the relations it
// writes, and of the relations the views it writes read (a write through an updatable view
// writes them). Past the views followed, what it writes is not known: as a rule.
FiredTriggers firedTriggers(const TypeCatalog& catalog, const policy::StatementFacts& st,
                            std::vector<std::string>* functions) {
  FiredTriggers fired;
  const int events = catalog.hasTriggers() ? TypeCatalog::rowEvents(st) : 0;
  if (events == 0) return fired;
  bool exhausted = false;
  const std::vector<std::string> written = catalog.relationsWritten(st.writes, &exhausted);
  fired.rule = exhausted;
  for (const std::string& relation : written) {
    const TypeCatalog::Fired f = catalog.addTriggerFunctions(relation, events, functions);
    // Rows of the tables it names, as the catalog does (a reading it does not hold: any), or
    // of those a foreign key's action writes.
    if (f.own_rows && !catalog.addTableReadings(relation, &fired.tables)) {
      fired.tables.push_back(relation);
    }
    for (const std::string& table : f.rows_of) policy::addLineageName(&fired.tables, table);
    fired.rule = fired.rule || f.rule;
    fired.wider_rows = fired.wider_rows || f.wider_rows;
  }
  return fired;
}

// Whether `value` is made of a trigger's NEW or OLD row (to_jsonb(NEW)).
bool namesTriggerRow(const policy::ColumnLineage& value) {
  return std::any_of(value.sources.begin(), value.sources.end(),
                     [](const std::string& s) { return policy::isTriggerRowName(s); });
}

// The column a value stored into view column `name` lands in: through views of views, the one
// column each names; "" (not known) for a computed column, a renamed one without a source, or
// views that disagree.
std::string baseColumn(const std::vector<const TypeCatalog::ViewLineage*>& views,
                       std::string name) {
  for (size_t hops = 0; hops <= views.size() && !name.empty(); ++hops) {
    std::optional<std::string> next;
    for (const TypeCatalog::ViewLineage* view : views) {
      for (const auto& [column, lineage] : view->columns) {
        if (column != name) continue;
        if (lineage.whole_row || lineage.sources.size() != 1) return "";
        if (next && *next != lineage.sources.front()) return "";
        next = lineage.sources.front();
      }
    }
    if (!next || *next == name) return name;
    name = *next;
  }
  return name;
}

}  // namespace

policy::QueryFactsPtr PostgresSession::withViewsResolved(policy::QueryFactsPtr facts) const {
  if (catalog_ == nullptr || !catalog_->hasViews()) return facts;
  std::shared_ptr<policy::QueryFacts> resolved;
  for (size_t i = 0; i < facts->statements.size(); ++i) {
    const policy::StatementFacts& st = facts->statements[i];
    // Views read, and views written (UPDATE v ... RETURNING code), and the views they read.
    std::vector<std::string> relations = st.reads;
    relations.insert(relations.end(), st.writes.begin(), st.writes.end());
    bool exhausted = false;
    const std::vector<const TypeCatalog::ViewLineage*> views =
        catalog_->viewsReached(std::move(relations), &exhausted);
    if (views.empty() && !exhausted) continue;
    if (!resolved) resolved = std::make_shared<policy::QueryFacts>(*facts);
    policy::StatementFacts& r = resolved->statements[i];
    if (exhausted) {
      // Not followed to the end: any column may carry any column.
      r.lineage.opaque = true;
      r.row_reference = true;
    }
    for (const TypeCatalog::ViewLineage* view : views) {
      r.lineage.renames.insert(r.lineage.renames.end(), view->columns.begin(), view->columns.end());
      // It runs what they call (withFunctionsResolved() follows them), with what they name.
      for (const std::string& f : view->functions) policy::addLineageName(&r.functions, f);
      for (const std::string& c : view->named) policy::addLineageName(&r.columns, c);
      r.row_reference = r.row_reference || view->named_rows;
    }
    // Written through an updatable view, a value lands in the base column the view's column
    // names (UPDATE v SET cvv = x, where v.cvv is the table's note): judge that one.
    if (!r.lineage.stored.empty() && !st.writes.empty()) {
      bool ignored = false;
      const std::vector<const TypeCatalog::ViewLineage*> written =
          catalog_->viewsReached(st.writes, &ignored);
      for (auto& [target, value] : r.lineage.stored) target = baseColumn(written, target);
    }
    // CREATE TABLE t AS SELECT * FROM v keeps v's column names, which may be renames of masked
    // columns (masking.copies): which ones lands where is not followed.
    if (r.lineage.stores_star) {
      policy::ColumnLineage any;
      any.whole_row = true;
      r.lineage.stored.emplace_back(std::string(), std::move(any));
    }
    // An error may quote what a column it names holds.
    TypeCatalog::addViewSources(views, &r.columns, &r.row_reference);
  }
  return resolved ? resolved : facts;
}

policy::QueryFactsPtr PostgresSession::withCatalogResolved(policy::QueryFactsPtr facts,
                                                           size_t sql_bytes) const {
  if (catalog_ == nullptr ||
      (!catalog_->hasViews() && !catalog_->hasFunctions() && !catalog_->hasTriggers())) {
    return facts;
  }
  // The analyser does not keep texts this long: their analysis is new each time, and
  // remembering it would only hold memory.
  if (sql_bytes > policy::SqlAnalyzer::kMaxCachedBytes) {
    return withFunctionsResolved(withViewsResolved(std::move(facts)));
  }
  // Statements of this many shapes that read views or call functions, at most; then it starts
  // again.
  constexpr size_t kMaxRemembered = 64;
  if (resolved_for_ != catalog_.get() || resolved_facts_.size() >= kMaxRemembered) {
    resolved_facts_.clear();
    resolved_for_ = catalog_.get();
  }
  auto it = resolved_facts_.find(facts.get());
  if (it != resolved_facts_.end()) return it->second.second;
  policy::QueryFactsPtr resolved = withFunctionsResolved(withViewsResolved(facts));
  if (resolved != facts) resolved_facts_.emplace(facts.get(), std::make_pair(facts, resolved));
  return resolved;
}

policy::QueryFactsPtr PostgresSession::withFunctionsResolved(policy::QueryFactsPtr facts) const {
  if (catalog_ == nullptr || (!catalog_->hasFunctions() && !catalog_->hasTriggers())) return facts;
  // Functions a statement reaches through functions and views, at most; past that it is not
  // followed and masked whole.
  constexpr size_t kMaxFunctions = 64;
  std::shared_ptr<policy::QueryFacts> resolved;
  for (size_t i = 0; i < facts->statements.size(); ++i) {
    const policy::StatementFacts& st = facts->statements[i];
    // What it calls anywhere (an error inside a function may quote what the function read),
    // and the calls its lineage names: those of the views it reads, and o.f (attribute
    // notation).
    std::vector<std::string> pending = st.functions;
    // The triggers on what it writes run with it: what they store, it stores. So do those the
    // writes of the functions it reaches fire (a trigger's writes too). What is reached only
    // through a trigger is kept apart: a trigger's dynamic SQL is not followed
    // (StatementFacts::fires_table_changes).
    std::vector<std::string> from_triggers;
    FiredTriggers fired = firedTriggers(*catalog_, st, &from_triggers);
    auto addCalls = [](std::vector<std::string>* into, const std::vector<std::string>& names) {
      for (const std::string& s : names) {
        if (auto called = policy::calledFunction(s)) into->emplace_back(*called);
      }
    };
    for (const auto& c : st.lineage.head) addCalls(&pending, c.sources);
    for (const auto& c : st.lineage.tail) addCalls(&pending, c.sources);
    addCalls(&pending, st.lineage.unnamed.sources);
    for (const auto& [name, c] : st.lineage.renames) addCalls(&pending, c.sources);
    for (const auto& [name, c] : st.lineage.stored) addCalls(&pending, c.sources);
    addCalls(&pending, st.lineage.arguments.sources);
    std::vector<std::pair<std::string, const TypeCatalog::FunctionResult*>> found;
    std::vector<std::string> called;  // found without a trigger: the statement runs them
    absl::flat_hash_set<std::string> seen;
    bool exhausted = false;
    // Whether one reached without a trigger may change tables (dynamic SQL too), and one
    // reached through a trigger is seen to (StatementFacts::calls_table_changes).
    bool calls_changes = false;
    bool fires_changes = false;
    // Those reached without a trigger first, so each is found as such.
    while ((!pending.empty() || !from_triggers.empty()) && !exhausted) {
      const bool direct = !pending.empty();
      std::vector<std::string>& list = direct ? pending : from_triggers;
      const std::string next = std::move(list.back());
      list.pop_back();
      // Every reading of its name counts.
      policy::anyReading(next, [&](std::string_view reading) {
        const std::string name(reading);
        if (!seen.insert(name).second) return false;
        const TypeCatalog::FunctionResult* f = catalog_->function(name);
        if (f == nullptr) return false;
        found.emplace_back(name, f);
        if (direct) called.push_back(name);
        calls_changes = calls_changes || (direct && f->may_change_tables);
        fires_changes = fires_changes || (!direct && f->runs_ddl);
        // Functions its result is made of, and those its body calls anywhere (an error
        // inside them may quote what they read).
        addCalls(&list, f->result.sources);
        addCalls(&list, f->columns);
        for (const auto& [field, c] : f->renames) addCalls(&list, c.sources);
        // What the functions its body calls store, a call of this one stores.
        list.insert(list.end(), f->called.begin(), f->called.end());
        for (const policy::StatementFacts& w : f->writes) {
          const FiredTriggers more = firedTriggers(*catalog_, w, &from_triggers);
          // Rows of any table written: judged by all of their columns (a wider set).
          for (const std::string& t : more.tables) policy::addLineageName(&fired.tables, t);
          fired.rule = fired.rule || more.rule;
          fired.wider_rows = fired.wider_rows || more.wider_rows;
        }
        for (const auto& [column, c] : f->stored) addCalls(&list, c.sources);
        exhausted = found.size() > kMaxFunctions;
        return exhausted;
      });
    }
    if (found.empty() && !fired.rule) continue;
    if (!resolved) resolved = std::make_shared<policy::QueryFacts>(*facts);
    policy::StatementFacts& r = resolved->statements[i];
    if (exhausted) {
      r.lineage.opaque = true;
      r.row_reference = true;
    }
    // Past the functions followed, any may.
    r.calls_table_changes = calls_changes || exhausted;
    r.fires_table_changes = fires_changes || exhausted;
    // It calls them, however it names them (o.f too).
    for (const std::string& name : called) policy::addLineageName(&r.functions, name);
    if (fired.rule || exhausted) {
      // A rule may store anything the write gives it, anywhere; so may the functions and
      // triggers past those followed.
      policy::ColumnLineage any;
      any.whole_row = true;
      r.lineage.stored.emplace_back(std::string(), std::move(any));
    }
    // A trigger's NEW and OLD are rows of the tables written: any of their columns, resolved by
    // the catalog's tables as a `*` over them is (withStoresResolved()).
    auto storeOf = [&](std::string column, policy::ColumnLineage value) {
      const bool rows = !fired.tables.empty() && !value.whole_row && namesTriggerRow(value);
      if (rows) value.whole_row = true;
      r.lineage.stored.emplace_back(std::move(column), std::move(value));
      if (rows && !fired.wider_rows) {
        r.lineage.star_tables.emplace_back(r.lineage.stored.size() - 1, fired.tables);
      }
    };
    bool stores_arguments = false;
    // A body seen to create or alter tables may give them other columns before its `*`: a
    // trigger function's, or one it calls. A function the statement calls whose body may in any
    // way (dynamic SQL too) already makes its tables untrusted (calls_table_changes,
    // tablesUntrusted()); what a trigger's dynamic SQL does is not followed
    // (fires_table_changes), or every generic audit trigger would make every `*` any column.
    const bool may_change_tables =
        std::any_of(found.begin(), found.end(), [](const auto& f) { return f.second->runs_ddl; });
    for (const auto& [name, f] : found) {
      r.lineage.renames.emplace_back(policy::callName(name), f->result);
      r.lineage.renames.insert(r.lineage.renames.end(), f->renames.begin(), f->renames.end());
      // What it stores, the call stores (masking.copies).
      for (size_t k = 0; k < f->stored.size(); ++k) {
        const policy::ColumnLineage& value = f->stored[k].second;
        storeOf(f->stored[k].first, value);
        // A `*` over tables (INSERT INTO archive SELECT * FROM orders): their columns, as for
        // the statement's own (withStoresResolved()); with a trigger's NEW or OLD beside it
        // (SELECT *, to_jsonb(NEW) FROM orders), or for NEW.* and OLD.* (kTriggerRowStar), the
        // written tables' columns too.
        for (const auto& [index, tables] : f->star_tables) {
          if (index != k || may_change_tables) continue;
          std::vector<std::string> all;
          for (const std::string& t : tables) {
            if (t != policy::kTriggerRowStar) all.push_back(t);
          }
          const bool rows = namesTriggerRow(value) || all.size() != tables.size();
          if (rows && (fired.tables.empty() || fired.wider_rows)) continue;
          if (rows) all.insert(all.end(), fired.tables.begin(), fired.tables.end());
          r.lineage.star_tables.emplace_back(r.lineage.stored.size() - 1, std::move(all));
        }
      }
      stores_arguments = stores_arguments || f->stores_arguments;
      // An error raised inside it may quote any column its body names.
      for (const std::string& column : f->columns) policy::addLineageName(&r.columns, column);
      if (f->row_reference) r.row_reference = true;
    }
    if (stores_arguments) {
      // A function storing what it is given: its arguments may be anything the statement names,
      // anywhere (WHERE log_msg(cvv)), and what the functions it calls return
      // (log_msg(card_code(1))).
      // A trigger's body calls it: with anything that body names (PERFORM log(to_jsonb(NEW))).
      policy::ColumnLineage args;
      args.sources = fired.tables.empty() ? st.columns : r.columns;
      args.whole_row = fired.tables.empty() ? st.row_reference : r.row_reference;
      for (const std::string& f : st.functions) {
        policy::addCallNamesOfListed(&args.sources, f);
      }
      storeOf(std::string(), std::move(args));
      // And what an EXECUTE of it passes ($1 among the arguments: PREPARE p(text) AS SELECT
      // log_msg($1); EXECUTE p(card_code(1))).
      r.lineage.stores_parameters = true;
    }
  }
  return resolved ? resolved : facts;
}

}  // namespace tollgate::sidecar::postgres
