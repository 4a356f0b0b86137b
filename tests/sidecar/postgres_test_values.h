// Binary-format PostgreSQL values for the sidecar's unit tests: int32, int8, array_send and
// record_send encodings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres::testing {

using Opt = std::optional<std::string>;

inline std::string i32(int32_t v) {
  char b[4];
  storeU32(b, static_cast<uint32_t>(v));
  return std::string(b, 4);
}

// array_send: ndim, has-null flag, element OID, (dim, lbound = 1) per dimension, elements.
inline std::string array(uint32_t elem_oid, const std::vector<int32_t>& dims,
                         const std::vector<Opt>& elems,
                         std::optional<int32_t> flag = std::nullopt) {
  bool has_null = false;
  for (const Opt& e : elems) has_null = has_null || !e;
  std::string out = i32(static_cast<int32_t>(dims.size())) + i32(flag.value_or(has_null ? 1 : 0)) +
                    i32(static_cast<int32_t>(elem_oid));
  for (int32_t d : dims) out += i32(d) + i32(1);
  for (const Opt& e : elems) out += e ? i32(static_cast<int32_t>(e->size())) + *e : i32(-1);
  return out;
}

// record_send: field count, then OID, length (-1 for NULL), bytes per field.
inline std::string record(const std::vector<std::pair<uint32_t, Opt>>& fields) {
  std::string out = i32(static_cast<int32_t>(fields.size()));
  for (const auto& [field_oid, v] : fields) {
    out += i32(static_cast<int32_t>(field_oid));
    out += v ? i32(static_cast<int32_t>(v->size())) + *v : i32(-1);
  }
  return out;
}

inline std::string int8(int64_t v) {
  return i32(static_cast<int32_t>(v >> 32)) + i32(static_cast<int32_t>(v));
}

}  // namespace tollgate::sidecar::postgres::testing
