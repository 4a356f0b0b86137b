// Masking inside binary-format structured values: arrays, records and composite (row) values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace tollgate::sidecar::postgres {

// Masks one scalar leaf of a structured value. Called with the leaf's type OID (the element type
// of its array, or the field OID of its record) and its bytes in binary format, only for types
// whose shapeOf() is kText, kJsonb or kBigNumber (int8, numeric, float8, money). Returns the
// leaf's new binary form, or nullopt when it is unchanged. The returned value must be a valid
// binary value of the same type (e.g. an int8 or a float8 stays 8 bytes). Must not throw.
using LeafMasker =
    absl::FunctionRef<std::optional<std::string>(uint32_t type_oid, std::string_view bytes)>;

// Nesting limit (arrays of records holding arrays ...). A deeper value is raw-scanned.
inline constexpr int kMaxStructuredDepth = 16;

class TypeCatalog;

// What becomes of one field of a composite type the catalog names (its column rule, say). The
// name is empty when the record no longer matches the catalog's fields in number or types (the
// type was altered after the catalog was read): which field is which is then unknown.
struct FieldMask {
  bool replace = false;              // false: the field is walked like any other
  std::optional<std::string> bytes;  // the field's new binary value; nullopt sends NULL
};
using FieldMasker = absl::FunctionRef<FieldMask(std::string_view field_name, uint32_t field_oid,
                                                std::string_view bytes)>;

// The database's own types, when the session read them (type_catalog.h): a domain is walked as
// its base type, and each field of a composite type the catalog holds goes to `fields` first.
struct DatabaseTypes {
  const TypeCatalog* catalog = nullptr;
  const FieldMasker* fields = nullptr;  // nullable
};

// Masks one binary-format value of type `type_oid` (a column value, typically one whose
// shapeOf() is kOther). Returns the rewritten value, or nullopt when nothing changed.
//
// - Arrays (array_send: ndim, has-null flag, element OID, (dim, lbound) per dimension, then
//   per element an int32 length, -1 for NULL, and the bytes) and records (record_send: int32
//   field count, then per field OID, int32 length or -1, bytes) are decoded recursively up to
//   kMaxStructuredDepth and rebuilt with the new lengths; every scalar leaf goes to `leaf` (see
//   LeafMasker) or, for other scalar types, to the raw scan below.
// - Builtin array types and `record` are recognised by OID (the array's element OID must then
//   match). An unknown OID (a table's row type, an array of it, a user composite or enum) is
//   decoded as an array or a record only when the bytes pass strict structural validation
//   (sane counts and dimensions, nonzero OIDs, no NULL without the has-null flag, elements
//   consuming the bytes exactly).
// - With `types.catalog`, a domain (an element or field OID, or `type_oid`) is decoded as its
//   base type, and a record of a composite type the catalog holds (by OID, not structure) has
//   each field offered to `types.fields` by name before it is decoded.
// - Anything else (bytea, unknown scalars, structures that fail validation, values nested too
//   deep): the raw scan, which replaces the hidden digits of every card number found in the
//   bytes (all but the first 6 and last 4) with '*', in place, so the length never changes.
//
// Malformed input never crashes, never reads out of bounds and never throws (short of memory
// exhaustion): it falls back to the raw scan. Thread-safe if `leaf` is.
std::optional<std::string> maskBinaryValue(uint32_t type_oid, std::string_view bytes,
                                           const LeafMasker& leaf, DatabaseTypes types = {});

// The raw scan on its own: same-length PCI display mask of every card number in `bytes`, or
// nullopt when there is none.
std::optional<std::string> maskRawBytes(std::string_view bytes);

// True when `type_oid` is a builtin array type or `record`, i.e. a type maskBinaryValue()
// decodes by OID rather than by structure.
bool isKnownStructuredType(uint32_t type_oid);

// The element type of a builtin array type, or 0.
uint32_t arrayElementOid(uint32_t type_oid);

}  // namespace tollgate::sidecar::postgres
