// Per-session catalog of domains and composite types (type_catalog.h).
#include "sidecar/postgres/type_catalog.h"

#include <charconv>
#include <optional>

namespace tollgate::sidecar::postgres {
namespace {

constexpr int kMaxDomainChain = 32;  // domains over domains; a cycle cannot exist, but stop

std::optional<uint32_t> parseOid(const ValueList::Value& v) {
  if (!v || v->empty()) return std::nullopt;
  uint32_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return out;
}

}  // namespace

const char TypeCatalog::kQuery[] =
    "SELECT t.typtype, t.oid, CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.typarray END, "
    "a.attname, a.atttypid "
    "FROM pg_catalog.pg_type t "
    "LEFT JOIN pg_catalog.pg_class c ON t.typtype = 'c' AND c.oid = t.typrelid "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
    "AND NOT a.attisdropped "
    "WHERE t.typtype = 'd' OR (t.typtype = 'c' AND c.relkind = 'c') "
    "ORDER BY t.oid, a.attnum";

bool TypeCatalog::addRow(const ValueList& columns) {
  if (columns.size() != 5 || rows_ >= kMaxRows) return false;
  std::optional<std::string_view> kind;
  std::optional<uint32_t> oid, other, field_type;
  std::optional<std::string_view> field_name;
  int i = 0;
  for (auto v : columns) {
    switch (i++) {
      case 0:
        kind = v;
        break;
      case 1:
        oid = parseOid(v);
        break;
      case 2:
        other = parseOid(v);
        break;
      case 3:
        field_name = v;
        break;
      default:
        field_type = parseOid(v);
        break;
    }
  }
  if (!kind || kind->size() != 1 || !oid || *oid == 0) return false;
  if ((*kind)[0] == 'd') {
    if (!other || *other == 0 || *other == *oid) return false;
    ++rows_;
    domains_[*oid] = *other;
    return true;
  }
  if ((*kind)[0] != 'c') return false;
  ++rows_;
  auto& fields = composites_[*oid];
  if (other && *other != 0) composite_arrays_[*other] = *oid;
  // A composite type without fields comes as one row with NULL field columns.
  if (!field_name || !field_type || *field_type == 0) return field_name == std::nullopt;
  fields.push_back(Field{std::string(*field_name), *field_type});
  return true;
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

uint32_t TypeCatalog::compositeOfArray(uint32_t array_oid) const {
  auto it = composite_arrays_.find(resolve(array_oid));
  return it == composite_arrays_.end() ? 0 : it->second;
}

}  // namespace tollgate::sidecar::postgres
