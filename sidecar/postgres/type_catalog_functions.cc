// The type catalog's functions (type_catalog.h): what their results are made of, what their
// bodies store and call, and whether a call may change tables, read from their definitions on
// first use.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "policy/sql/function_lineage.h"
#include "sidecar/postgres/type_catalog.h"

namespace tollgate::sidecar::postgres {
namespace {

constexpr uint32_t kTriggerType = 2279;  // pg_type's trigger (TRIGGEROID)

}  // namespace

const TypeCatalog::FunctionResult* TypeCatalog::function(std::string_view name) const {
  const absl::string_view key(name.data(), name.size());
  auto done = function_results_.find(key);
  if (done != function_results_.end()) return &done->second;
  auto oids = function_oids_.find(key);
  if (oids == function_oids_.end()) return nullptr;
  FunctionResult& out = function_results_[key];
  for (uint32_t oid : oids->second) {
    auto f = functions_.find(oid);
    if (f == functions_.end()) continue;
    if (f->second.definition.empty() || f->second.definition.size() > max_definition_bytes_) {
      // Not read: it may return anything, and an error inside it quote anything.
      out.result.whole_row = out.result.reshaped = true;
      out.row_reference = true;
      out.may_change_tables = true;
      if (f->second.result_type == kTriggerType) {
        // A trigger's: it may store the written row anywhere (function_lineage.h).
        policy::ColumnLineage row;
        row.sources.emplace_back("new");
        out.stored.emplace_back(std::string(), std::move(row));
      }
      continue;
    }
    std::vector<std::string> fields;
    const std::vector<Field>* row = fieldsOf(f->second.result_type);
    if (row != nullptr) {
      for (const Field& field : *row) fields.push_back(field.name);
    }
    policy::FunctionLineage l =
        policy::functionLineage(f->second.definition, row != nullptr ? &fields : nullptr);
    // Views the body reads rename columns of their own (SELECT code FROM v, v's code is cvv).
    bool exhausted = false;
    const std::vector<const ViewLineage*> views = viewsReached(l.reads, &exhausted);
    if (exhausted) l.result.whole_row = l.result.reshaped = l.row_reference = true;
    addViewSources(views, &l.result.sources, &l.result.whole_row);
    addViewSources(views, &l.columns, &l.row_reference);
    if (row != nullptr) {
      // A view's row type: its fields are named by the view's columns, made of what those are
      // (SELECT code FROM f(), to_jsonb(t) of a row of it).
      const ViewLineage* result_view = nullptr;
      if (auto it = view_row_types_.find(resolve(f->second.result_type));
          it != view_row_types_.end()) {
        result_view = it->second;
        out.renames.insert(out.renames.end(), result_view->columns.begin(),
                           result_view->columns.end());
      }
      // The fields a row type result took by name or by `*` (function_lineage.h) may be
      // another view's columns under other names: what those are made of counts.
      for (const ViewLineage* view : views) {
        if (view == result_view) continue;  // its columns are the fields themselves
        for (const auto& [column, lineage] : view->columns) {
          if (lineage.whole_row || lineage.sources.size() != 1 ||
              lineage.sources.front() != column) {
            policy::mergeLineage(&l.result, lineage);
          }
        }
      }
    }
    policy::mergeLineage(&out.result, l.result);
    for (const std::string& c : l.called) policy::addLineageName(&out.called, c);
    out.stores_arguments = out.stores_arguments || l.stores_arguments;
    for (size_t k = 0; k < l.stored.size(); ++k) {
      auto& [target, value] = l.stored[k];
      bool view_whole = false;  // a view's column that may be any column
      addViewSources(views, &value.sources, &view_whole);
      value.whole_row = value.whole_row || view_whole;
      out.stored.emplace_back(std::move(target), std::move(value));
      for (const auto& [index, tables] : l.star_tables) {
        if (index == k && !view_whole && !exhausted) {
          out.star_tables.emplace_back(out.stored.size() - 1, tables);
        }
      }
    }
    for (const std::string& c : l.columns) policy::addLineageName(&out.columns, c);
    out.row_reference = out.row_reference || l.row_reference;
    out.may_change_tables = out.may_change_tables || l.may_change_tables;
    out.runs_ddl = out.runs_ddl || l.runs_ddl;
    out.writes.insert(out.writes.end(), l.writes.begin(), l.writes.end());
  }
  return &out;
}

void TypeCatalog::addCallResults(policy::ColumnLineage* lineage) const {
  constexpr size_t kMaxFunctions = 64;
  size_t followed = 0;
  // Sources are de-duplicated: each name is looked at once, those merged in after it too.
  for (size_t i = 0; i < lineage->sources.size(); ++i) {
    const std::optional<std::string_view> called = policy::calledFunction(lineage->sources[i]);
    if (!called) continue;
    const FunctionResult* f = function(*called);
    if (f == nullptr) continue;  // not a function (t.col gives col()), or not a known one
    if (++followed > kMaxFunctions) {
      lineage->whole_row = lineage->reshaped = true;
      return;
    }
    policy::mergeLineage(lineage, f->result);
  }
}

}  // namespace tollgate::sidecar::postgres
