// The type catalog's relations (type_catalog.h): the views it follows to what their columns are
// made of, and the tables a `*` expands to or a composite column belongs to.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "sidecar/postgres/type_catalog.h"

namespace tollgate::sidecar::postgres {
namespace {

// The key of table_column_types_: the table's oid (4 bytes) followed by the column's name.
std::string tableColumnKey(uint32_t table_oid, std::string_view column) {
  std::string key(reinterpret_cast<const char*>(&table_oid), sizeof(table_oid));
  key.append(column.data(), column.size());
  return key;
}

}  // namespace

void TypeCatalog::resolveViews(const policy::SqlAnalyzer& analyzer, size_t max_bytes) {
  max_definition_bytes_ = max_bytes;
  view_lineage_.clear();
  for (const auto& [oid, view] : views_) {
    if (view.name.empty()) continue;
    ViewLineage& out = view_lineage_[view.name];
    policy::QueryFactsPtr facts;
    if (view.definition.size() <= max_bytes) facts = analyzer.analyze(view.definition);
    const policy::StatementFacts* st = facts && facts->parsed && facts->statements.size() == 1
                                           ? &facts->statements.front()
                                           : nullptr;
    const size_t count = view.columns.size();
    for (size_t i = 0; i < count; ++i) {
      policy::ColumnLineage c;
      if (st == nullptr || !st->lineage.known) {
        c.whole_row = c.reshaped = true;  // not followed: it may hold any column
      } else {
        c.sources = st->lineage.namesFor(i, count, view.columns[i], &c.whole_row, &c.reshaped);
      }
      out.columns.emplace_back(view.columns[i], std::move(c));
    }
    if (st != nullptr) {
      out.reads.insert(out.reads.end(), st->reads.begin(), st->reads.end());
      out.functions.insert(out.functions.end(), st->functions.begin(), st->functions.end());
      out.named = st->columns;
      out.named_rows = st->row_reference;
    } else {
      out.named_rows = true;  // not followed: any
    }
  }
  // Views of one name in several schemas share an entry (and so their row types).
  view_row_types_.clear();
  for (const auto& [oid, view] : views_) {
    if (view.row_type == 0) continue;
    auto it = view_lineage_.find(view.name);
    if (it != view_lineage_.end()) view_row_types_[view.row_type] = &it->second;
  }
}

std::vector<const TypeCatalog::ViewLineage*> TypeCatalog::views(std::string_view relation) const {
  std::vector<const ViewLineage*> out;
  if (view_lineage_.empty()) return out;
  // Every reading that names a view counts.
  policy::anyReading(relation, [&](std::string_view name) {
    auto it = view_lineage_.find(absl::string_view(name.data(), name.size()));
    if (it != view_lineage_.end()) out.push_back(&it->second);
    return false;
  });
  return out;
}

std::vector<const TypeCatalog::ViewLineage*> TypeCatalog::viewsReached(
    std::vector<std::string> relations, bool* exhausted) const {
  // Relation names and views followed, at most; past that `*exhausted`.
  constexpr size_t kMaxRelations = 1024;
  constexpr size_t kMaxViews = 64;
  std::vector<const ViewLineage*> found;
  absl::flat_hash_set<const ViewLineage*> seen;
  size_t visited = 0;
  *exhausted = false;
  while (!relations.empty() && !*exhausted) {
    const std::string relation = std::move(relations.back());
    relations.pop_back();
    for (const ViewLineage* view : views(relation)) {
      if (!seen.insert(view).second) continue;
      found.push_back(view);
      relations.insert(relations.end(), view->reads.begin(), view->reads.end());
    }
    *exhausted = ++visited > kMaxRelations || found.size() > kMaxViews;
  }
  return found;
}

void TypeCatalog::addViewSources(const std::vector<const ViewLineage*>& views,
                                 std::vector<std::string>* names, bool* whole_row) {
  // Views of views chain (k <- code <- cvv), so until nothing is added.
  for (bool added = true; added;) {
    added = false;
    for (const ViewLineage* view : views) {
      for (const auto& [column, lineage] : view->columns) {
        if (std::find(names->begin(), names->end(), column) == names->end()) continue;
        const size_t before = names->size();
        for (const std::string& source : lineage.sources) policy::addLineageName(names, source);
        added = added || names->size() != before;
        if (lineage.whole_row) *whole_row = true;
      }
    }
  }
}

bool TypeCatalog::addTable(uint32_t oid, std::string_view list, bool foreign) {
  table_bytes_ += list.size();
  if (++table_rows_ > kMaxTables || table_bytes_ > kMaxTableBytes) {
    // Not all of them: a `*` over any table may then be any column.
    tables_.clear();
    return true;
  }
  // "name,column,column", with '\\' before a ',' or '\\' that is part of a name.
  std::string name, columns;
  std::string* into = &name;
  for (size_t i = 0; i < list.size(); ++i) {
    char c = list[i];
    if (c == '\\') {
      if (++i == list.size()) return false;
      c = list[i];
    } else if (c == ',') {
      if (into == &columns) columns.push_back('\0');
      into = &columns;
      continue;
    }
    into->push_back(c);
  }
  if (name.empty()) return false;
  Tables& known = tables_[name];  // tables of one name in several schemas: all columns
  if (!known.columns.empty() && !columns.empty()) known.columns.push_back('\0');
  known.columns += columns;
  known.oids.push_back(oid);
  known.foreign = known.foreign || foreign;
  return true;
}

void TypeCatalog::addTableColumn(uint32_t table_oid, std::string_view column, uint32_t type) {
  table_column_types_[tableColumnKey(table_oid, column)] = type;
}

bool TypeCatalog::keepsFields(std::string_view table, std::string_view column,
                              const absl::flat_hash_set<uint32_t>& types) const {
  if (types.empty() || !views(table).empty()) return false;
  uint32_t composite = 0;
  bool known = false;
  const bool differs = policy::anyReading(table, [&](std::string_view name) {
    auto tables = tables_.find(absl::string_view(name.data(), name.size()));
    if (tables == tables_.end()) return false;
    // A foreign table's column may be of another type where its data is (postgres_fdw).
    if (tables->second.foreign) return true;
    for (uint32_t oid : tables->second.oids) {
      auto type = table_column_types_.find(tableColumnKey(oid, column));
      // A table of that name without such a column, or with a column of another type.
      const uint32_t of = type == table_column_types_.end() ? 0 : compositeOf(type->second);
      if (of == 0 || (known && of != composite)) return true;
      composite = of;
      known = true;
    }
    return false;
  });
  // A view's row type: its fields stand for what the view's columns are made of.
  if (differs || !known || view_row_types_.contains(composite)) return false;
  return std::all_of(types.begin(), types.end(),
                     [&](uint32_t type) { return compositeOf(type) == composite; });
}

TypeCatalog::Fired TypeCatalog::addTriggerFunctions(std::string_view relation, int events,
                                                    std::vector<std::string>* functions) const {
  Fired fired;
  if (triggers_.empty()) return fired;
  policy::anyReading(relation, [&](std::string_view name) {
    auto it = triggers_.find(absl::string_view(name.data(), name.size()));
    if (it == triggers_.end()) return false;
    for (const Trigger& t : it->second) {
      int on = t.events & events & kAnyRowEvent;
      if ((events & kUpdateEvent) != 0 && (t.events & kMovedRowEvent) != 0) {
        on |= t.events & (kInsertEvent | kDeleteEvent);
      }
      if (on == 0) continue;
      if (t.function == 0) {
        fired.rule = true;
        continue;
      }
      auto f = functions_.find(t.function);
      if (f == functions_.end() || f->second.name.empty()) continue;
      policy::addLineageName(functions, f->second.name);
      fired.functions = true;
      fired.wider_rows = fired.wider_rows || (t.events & kChildRowEvent) != 0;
      if (t.rows == 0) {
        fired.own_rows = true;
      } else if (const std::string* rows = tableName(t.rows)) {
        policy::addLineageName(&fired.rows_of, *rows);
      } else {
        fired.own_rows = fired.wider_rows = true;  // any column
      }
    }
    return false;
  });
  return fired;
}

const std::string* TypeCatalog::tableName(uint32_t oid) const {
  // Only for triggers a foreign key's action fires: not worth an index per session.
  for (const auto& [name, tables] : tables_) {
    if (std::find(tables.oids.begin(), tables.oids.end(), oid) != tables.oids.end()) return &name;
  }
  return nullptr;
}

std::vector<std::string> TypeCatalog::relationsWritten(const std::vector<std::string>& relations,
                                                       bool* exhausted) const {
  std::vector<std::string> written = relations;
  for (const ViewLineage* view : viewsReached(relations, exhausted)) {
    for (const std::string& read : view->reads) policy::addLineageName(&written, read);
  }
  return written;
}

int TypeCatalog::rowEvents(const policy::StatementFacts& st) {
  int events = 0;
  auto add = [&events, &st](std::string_view type) {
    if (type == "insert") {
      events |= kInsertEvent | (st.upserts ? kUpdateEvent : 0);
    } else if (type == "copy") {
      events |= kInsertEvent;
    } else if (type == "update") {
      // Through a partitioned table it may move a row to another partition, which fires the
      // partitions' INSERT and DELETE triggers too (kMovedRowEvent).
      events |= kUpdateEvent;
    } else if (type == "merge") {
      events |= kInsertEvent | kDeleteEvent | kUpdateEvent;
    } else if (type == "delete") {
      events |= kDeleteEvent;
    } else if (type == "truncate") {
      events |= kTruncateEvent;
    }
  };
  add(st.type);
  for (const std::string& inner : st.inner_types) add(inner);
  return events;
}

bool TypeCatalog::tableColumns(std::string_view table, std::vector<std::string>* names) const {
  // Past the limits tables_ stays empty (addTable()).
  if (!views(table).empty()) return false;
  auto it = tables_.find(absl::string_view(table.data(), table.size()));
  if (it == tables_.end()) return false;
  const std::string& columns = it->second.columns;
  for (size_t from = 0; from < columns.size();) {
    size_t end = columns.find('\0', from);
    if (end == std::string::npos) end = columns.size();
    policy::addLineageName(names, std::string_view(columns).substr(from, end - from));
    from = end + 1;
  }
  return true;
}

bool TypeCatalog::addTableReadings(std::string_view relation,
                                   std::vector<std::string>* tables) const {
  bool found = false;
  policy::anyReading(relation, [&](std::string_view name) {
    if (tables_.contains(absl::string_view(name.data(), name.size()))) {
      policy::addLineageName(tables, name);
      found = true;
    }
    return false;
  });
  return found;
}

}  // namespace tollgate::sidecar::postgres
