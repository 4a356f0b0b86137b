// Fuzz target for the rows of the type catalog query (type_catalog.h): what the server returns
// for domains, composite types, ranges, typed table columns, tables and views, then binding column
// rules, following view definitions with the SQL analyser and reading function definitions.
//
// Input: rows separated by '\n', values by '\x1f'; a value "\x00" is NULL.
// Invariants (abort() on failure): every column of a view the lookup finds has a name and
// either sources (at least its own name) or the whole-row flag; domain chains and nested
// composites resolve without looping; nothing reads out of bounds (ASan build).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "policy/mask/masker.h"
#include "policy/sql/analyzer.h"
#include "sidecar/postgres/type_catalog.h"
#include "sidecar/postgres/wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_maskers.h"

namespace {

using tollgate::fuzz::check;
namespace pg = tollgate::sidecar::postgres;
namespace policy = tollgate::policy;

using tollgate::fuzz::cvvMasker;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t at = 0;;) {
    const size_t next = s.find(sep, at);
    out.push_back(
        s.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
    if (next == std::string_view::npos) return out;
    at = next + 1;
  }
}

const policy::SqlAnalyzer& analyzer() {
  static const policy::SqlAnalyzer a(64);
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("type_catalog_fuzz", in);
  pg::TypeCatalog catalog;
  std::vector<std::string> names;  // second values, to look up as views and column names
  std::vector<uint32_t> oids;
  for (std::string_view line : split(in, '\n')) {
    std::vector<std::string_view> values = split(line, '\x1f');
    if (values.size() > 16) continue;
    std::string raw;
    for (std::string_view v : values) {
      char len[4];
      if (v == std::string_view("\0", 1)) {
        pg::storeU32(len, 0xFFFFFFFFu);
        raw.append(len, 4);
        continue;
      }
      pg::storeU32(len, static_cast<uint32_t>(v.size()));
      raw.append(len, 4);
      raw.append(v);
    }
    const bool accepted = catalog.addRow(pg::ValueList(static_cast<uint16_t>(values.size()), raw));
    check(!accepted || values.size() == 6, "only rows of six columns are accepted");
    if (values.size() >= 4) names.emplace_back(values[3]);
    if (values.size() >= 2) {
      uint32_t oid = 0;
      for (char c : values[1]) oid = oid * 10 + static_cast<uint32_t>(c - '0');
      oids.push_back(oid);
    }
  }
  catalog.resolveViews(analyzer(), 4096);
  catalog.bindRules(cvvMasker());
  for (const std::string& name : names) {
    catalog.typesOfColumn(name);
    // A table row's name is what precedes its first ','.
    for (const std::string& table : {name, name.substr(0, name.find(','))}) {
      std::vector<std::string> columns;
      const bool known = catalog.tableColumns(table, &columns);
      check(known || columns.empty(), "an unknown table adds no columns");
      for (const std::string& c : columns) check(!c.empty(), "a table column has a name");
    }
    for (const pg::TypeCatalog::ViewLineage* view : catalog.views(name)) {
      for (const auto& [column, lineage] : view->columns) {
        check(!column.empty(), "a view column has a name");
        check(lineage.whole_row || !lineage.sources.empty(), "a view column has its sources");
      }
    }
  }
  for (const std::string& name : names) {
    // Function results are read on first use and stay where they are.
    const pg::TypeCatalog::FunctionResult* f = catalog.function(name);
    if (f == nullptr) continue;
    for (const std::string& other : names) catalog.function(other);
    check(catalog.function(name) == f, "a function's result stays where it was");
    check(!f->runs_ddl || f->may_change_tables, "a function seen to change tables may");
  }
  const absl::flat_hash_set<uint32_t> types(oids.begin(), oids.end());
  for (const std::string& name : names) {
    // A table row's name is what precedes its first ','.
    const std::string table = name.substr(0, name.find(','));
    if (catalog.keepsFields(table, name, types)) {
      check(!types.empty(), "no value keeps no fields");
    }
  }
  for (uint32_t oid : oids) {
    std::vector<std::string> fields;
    bool whole_row = false;
    catalog.addFieldNames(oid, &fields, &whole_row);
    for (const std::string& f : fields) check(!f.empty(), "a field has a name");
    catalog.resolve(oid);
    catalog.fieldsOf(oid);
    catalog.ruleInside(oid);
    catalog.compositeOfArray(oid);
  }
  return 0;
}
