// Recursive decoding and rebuilding of binary arrays/records around a per-leaf masker.
#include "sidecar/postgres/structured_values.h"

#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "policy/detect/pan.h"
#include "policy/detect/text_splicer.h"
#include "policy/mask/masker.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/type_catalog.h"
#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {
namespace {

constexpr uint32_t kRecordOid = 2249;
constexpr int32_t kMaxDims = 6;             // PostgreSQL's MAXDIM
constexpr int32_t kMaxRecordFields = 1664;  // MaxTupleAttributeNumber
constexpr size_t kMaxLength = 0x3fffffff;   // largest varlena; bigger leaves are refused
constexpr size_t kArrayHeader = 12;         // ndim, flags, element OID
constexpr size_t kMinPanBytes = 12;         // fewer bytes cannot hold a card number

struct ArrayType {
  uint32_t array_oid;
  uint32_t element_oid;
};

// Builtin array types (pg_type.typarray) whose elements a card number can hide in, or that a
// client may well receive; an array OID not listed here is still found structurally.
constexpr ArrayType kArrayTypes[] = {
    {1000, 16},    // bool
    {1001, 17},    // bytea
    {1002, 18},    // "char"
    {1003, 19},    // name
    {1005, 21},    // int2
    {1007, 23},    // int4
    {1009, 25},    // text
    {1014, 1042},  // bpchar
    {1015, 1043},  // varchar
    {1016, 20},    // int8
    {1021, 700},   // float4
    {1022, 701},   // float8
    {1028, 26},    // oid
    {1231, 1700},  // numeric
    {791, 790},    // money
    {199, 114},    // json
    {3807, 3802},  // jsonb
    {2287, 2249},  // record
    {143, 142},    // xml
    {1182, 1082},  // date
    {1183, 1083},  // time
    {1115, 1114},  // timestamp
    {1185, 1184},  // timestamptz
    {1187, 1186},  // interval
    {2951, 2950},  // uuid
    {1263, 2275},  // cstring
    {271, 5069},   // xid8
    {1017, 600},   // point
    {1018, 601},   // lseg
    {1019, 602},   // path
    {1020, 603},   // box
    {1027, 604},   // polygon
    {629, 628},    // line
    {719, 718},    // circle
    {3905, 3904},  // int4range
    {3907, 3906},  // numrange
    {3909, 3908},  // tsrange
    {3911, 3910},  // tstzrange
    {3913, 3912},  // daterange
    {3927, 3926},  // int8range
    {6150, 4451},  // int4multirange
    {6151, 4532},  // nummultirange
    {6152, 4533},  // tsmultirange
    {6153, 4534},  // tstzmultirange
    {6155, 4535},  // datemultirange
    {6157, 4536},  // int8multirange
};

// Builtin range and multirange types and their element (bound) type: a range of int8 or
// numeric can hold a card number as a bound.
struct RangeType {
  uint32_t range_oid;
  uint32_t multirange_oid;
  uint32_t subtype_oid;
};
constexpr RangeType kRangeTypes[] = {
    {3904, 4451, 23},    // int4
    {3906, 4532, 1700},  // numeric
    {3908, 4533, 1114},  // timestamp
    {3910, 4534, 1184},  // timestamptz
    {3912, 4535, 1082},  // date
    {3926, 4536, 20},    // int8
};

constexpr uint32_t kXid8Oid = 5069;

// Geometric types are float8 coordinates (geo_ops.c *_send): a fixed count, or for path and
// polygon a header and a point count. `header` bytes come before the int32 point count.
struct GeometryType {
  uint32_t oid;
  int fixed_floats;  // 0: variable (path, polygon)
  size_t header;     // path: one "closed" byte
};
constexpr GeometryType kGeometryTypes[] = {
    {600, 2, 0},  // point
    {601, 4, 0},  // lseg
    {603, 4, 0},  // box
    {628, 3, 0},  // line
    {718, 3, 0},  // circle
    {602, 0, 1},  // path
    {604, 0, 0},  // polygon
};

// True for builtin scalar types: never decoded structurally.
bool isKnownScalar(uint32_t type_oid) {
  if (shapeOf(type_oid) != ValueShape::kOther) return true;
  for (const ArrayType& t : kArrayTypes) {
    if (t.element_oid == type_oid && t.element_oid != kRecordOid) return true;
  }
  return false;
}

int32_t loadI32(std::string_view b, size_t at) {
  return static_cast<int32_t>(loadU32(b.data() + at));
}

void appendI32(std::string& out, int32_t v) {
  char buf[4];
  storeU32(buf, static_cast<uint32_t>(v));
  out.append(buf, 4);
}

// Where the elements of a validated array start and how many there are.
struct ArrayLayout {
  uint32_t element_oid = 0;
  size_t data_begin = 0;
  uint64_t count = 0;
  bool has_null = false;
};

// Validates an array_send value. `expect_element` is 0 when any element OID is acceptable.
bool parseArray(std::string_view b, uint32_t expect_element, ArrayLayout* layout) {
  if (b.size() < kArrayHeader) return false;
  const int32_t ndim = loadI32(b, 0);
  const int32_t flags = loadI32(b, 4);
  const uint32_t element = loadU32(b.data() + 8);
  if (ndim < 0 || ndim > kMaxDims || (flags != 0 && flags != 1) || element == 0) return false;
  if (expect_element != 0 && element != expect_element) return false;
  const size_t data_begin = kArrayHeader + 8 * static_cast<size_t>(ndim);
  if (b.size() < data_begin) return false;
  uint64_t count = ndim == 0 ? 0 : 1;
  const uint64_t max_count = (b.size() - data_begin) / 4;  // each element takes >= 4 bytes
  for (int32_t d = 0; d < ndim; ++d) {
    const int32_t dim = loadI32(b, kArrayHeader + 8 * static_cast<size_t>(d));
    const int32_t lbound = loadI32(b, kArrayHeader + 8 * static_cast<size_t>(d) + 4);
    if (dim < 1) return false;
    if (static_cast<int64_t>(lbound) + dim - 1 > std::numeric_limits<int32_t>::max()) return false;
    count *= static_cast<uint64_t>(dim);
    if (count > max_count) return false;
  }
  // Walk the elements once so nothing is masked unless the whole value is well-formed.
  size_t pos = data_begin;
  for (uint64_t i = 0; i < count; ++i) {
    if (b.size() - pos < 4) return false;
    const int32_t len = loadI32(b, pos);
    pos += 4;
    if (len == -1) {
      if (flags == 0) return false;
      continue;
    }
    if (len < 0 || static_cast<size_t>(len) > b.size() - pos) return false;
    pos += static_cast<size_t>(len);
  }
  if (pos != b.size()) return false;
  *layout = ArrayLayout{element, data_begin, count, flags == 1};
  return true;
}

// Validates a record_send value; returns its field count.
bool parseRecord(std::string_view b, int32_t* fields) {
  if (b.size() < 4) return false;
  const int32_t count = loadI32(b, 0);
  if (count < 0 || count > kMaxRecordFields) return false;
  size_t pos = 4;
  for (int32_t i = 0; i < count; ++i) {
    if (b.size() - pos < 8) return false;
    const uint32_t field_oid = loadU32(b.data() + pos);
    const int32_t len = loadI32(b, pos + 4);
    pos += 8;
    if (field_oid == 0) return false;
    if (len == -1) continue;
    if (len < 0 || static_cast<size_t>(len) > b.size() - pos) return false;
    pos += static_cast<size_t>(len);
  }
  if (pos != b.size()) return false;
  *fields = count;
  return true;
}

// The non-NULL element at *pos (an int32 length, then its bytes), *pos moved past it; nullopt
// when it is NULL or does not fit in `b`.
std::optional<std::string_view> readElement(std::string_view b, size_t* pos) {
  if (*pos + 4 > b.size()) return std::nullopt;
  const int32_t len = loadI32(b, *pos);
  *pos += 4;
  if (len < 0 || static_cast<size_t>(len) > b.size() - *pos) return std::nullopt;
  const std::string_view element = b.substr(*pos, static_cast<size_t>(len));
  *pos += static_cast<size_t>(len);
  return element;
}

// Copy-on-write rebuild of a container: unchanged bytes are copied lazily, only once an
// element changes.
class Rebuilder {
 public:
  explicit Rebuilder(std::string_view src) : out_(src) {}

  // The element whose length field starts at `len_at` and whose bytes end at `end` now holds
  // `bytes`.
  void replace(size_t len_at, size_t end, const std::string& bytes) {
    std::string element;
    element.reserve(4 + bytes.size());
    appendI32(element, static_cast<int32_t>(bytes.size()));
    element += bytes;
    out_.replace(len_at, end, element);
  }

  // The element whose length field starts at `len_at` and whose bytes end at `end` is now NULL.
  void replaceNull(size_t len_at, size_t end) {
    std::string null_length;
    appendI32(null_length, -1);
    out_.replace(len_at, end, null_length);
  }

  std::optional<std::string> finish() { return out_.finish(); }

 private:
  policy::TextSplicer out_;
};

class Walker {
 public:
  Walker(const LeafMasker& leaf, DatabaseTypes types) : leaf_(leaf), types_(types) {}

  std::optional<std::string> value(uint32_t type_oid, std::string_view b, int depth) {
    if (depth > kMaxStructuredDepth) return maskRawBytes(b);
    const std::vector<TypeCatalog::Field>* names = nullptr;
    if (types_.catalog != nullptr) {
      type_oid = types_.catalog->resolve(type_oid);
      names = types_.catalog->fieldsOf(type_oid);
    }
    const ValueShape shape = shapeOf(type_oid);
    if (shape == ValueShape::kText || shape == ValueShape::kJsonb ||
        shape == ValueShape::kBigNumber) {
      return leaf_(type_oid, b);
    }
    if (type_oid == kXid8Oid) return leaf_(oid::kInt8, b);  // an unsigned int8
    for (const GeometryType& g : kGeometryTypes) {
      if (g.oid == type_oid) return geometry(b, g);
    }
    for (const RangeType& r : kRangeTypes) {
      if (r.range_oid == type_oid) return range(b, r.subtype_oid, depth);
      if (r.multirange_oid == type_oid) return multirange(b, r.subtype_oid, depth);
    }
    if (types_.catalog != nullptr) {
      bool multi = false;
      if (const uint32_t subtype = types_.catalog->rangeSubtype(type_oid, &multi)) {
        return multi ? multirange(b, subtype, depth) : range(b, subtype, depth);
      }
    }
    ArrayLayout layout;
    int32_t fields = 0;
    if (names != nullptr) {
      if (parseRecord(b, &fields)) return record(b, fields, depth, names);
    } else if (type_oid == kRecordOid) {
      if (parseRecord(b, &fields)) return record(b, fields, depth);
    } else if (const uint32_t element = arrayElementOid(type_oid); element != 0) {
      if (parseArray(b, element, &layout)) return array(b, layout, depth);
    } else if (!isKnownScalar(type_oid)) {
      if (parseArray(b, 0, &layout)) return array(b, layout, depth);
      if (parseRecord(b, &fields)) return record(b, fields, depth);
    }
    return maskRawBytes(b);
  }

 private:
  std::optional<std::string> array(std::string_view b, const ArrayLayout& layout, int depth) {
    Rebuilder rb(b);
    size_t pos = layout.data_begin;
    for (uint64_t i = 0; i < layout.count; ++i) {
      const size_t len_at = pos;
      const int32_t len = loadI32(b, pos);
      pos += 4;
      if (len < 0) continue;  // NULL
      const std::string_view elem = b.substr(pos, static_cast<size_t>(len));
      pos += static_cast<size_t>(len);
      auto masked = value(layout.element_oid, elem, depth + 1);
      if (!masked) continue;
      if (masked->size() > kMaxLength) return maskRawBytes(b);
      rb.replace(len_at, pos, *masked);
    }
    return rb.finish();
  }

  // float8 coordinates, each given to the leaf masker as a float8 (it keeps 8 bytes).
  std::optional<std::string> geometry(std::string_view b, const GeometryType& g) {
    size_t begin = g.header;
    size_t floats = static_cast<size_t>(g.fixed_floats);
    if (g.fixed_floats == 0) {
      if (b.size() < g.header + 4) return maskRawBytes(b);
      const int32_t points = loadI32(b, g.header);
      begin = g.header + 4;
      if (points < 0) return maskRawBytes(b);
      floats = 2 * static_cast<size_t>(points);
    }
    if (b.size() != begin + 8 * floats) return maskRawBytes(b);
    std::optional<std::string> out;
    for (size_t i = 0; i < floats; ++i) {
      const size_t at = begin + 8 * i;
      auto masked = leaf_(oid::kFloat8, b.substr(at, 8));
      if (!masked || masked->size() != 8) continue;
      if (!out) out.emplace(b);
      out->replace(at, 8, *masked);
    }
    return out;
  }

  // range_send: a flags byte, then the lower and upper bounds that are present, each an int32
  // length and the bound's bytes.
  std::optional<std::string> range(std::string_view b, uint32_t subtype, int depth) {
    constexpr uint8_t kEmpty = 0x01, kLowerInfinite = 0x08, kUpperInfinite = 0x10,
                      kLowerNull = 0x20, kUpperNull = 0x40;
    if (b.empty()) return maskRawBytes(b);
    const auto flags = static_cast<uint8_t>(b[0]);
    const bool has[2] = {!(flags & (kEmpty | kLowerInfinite | kLowerNull)),
                         !(flags & (kEmpty | kUpperInfinite | kUpperNull))};
    Rebuilder rb(b);
    size_t pos = 1;
    for (bool present : has) {
      if (!present) continue;
      const size_t len_at = pos;
      auto bound = readElement(b, &pos);
      if (!bound) return maskRawBytes(b);
      if (auto masked = value(subtype, *bound, depth + 1)) rb.replace(len_at, pos, *masked);
    }
    if (pos != b.size()) return maskRawBytes(b);
    return rb.finish();
  }

  // multirange_send: an int32 range count, then each range as an int32 length and its bytes.
  std::optional<std::string> multirange(std::string_view b, uint32_t subtype, int depth) {
    if (b.size() < 4 || loadI32(b, 0) < 0) return maskRawBytes(b);
    const auto count = static_cast<size_t>(loadI32(b, 0));
    Rebuilder rb(b);
    size_t pos = 4;
    for (size_t i = 0; i < count; ++i) {
      const size_t len_at = pos;
      auto one = readElement(b, &pos);
      if (!one) return maskRawBytes(b);
      if (auto masked = range(*one, subtype, depth + 1)) rb.replace(len_at, pos, *masked);
    }
    if (pos != b.size()) return maskRawBytes(b);
    return rb.finish();
  }

  // `names`: the fields of the record's composite type, when the catalog holds it. A record
  // whose fields differ from them in number or types is of the type as altered since the
  // catalog was read: its fields go to the field masker without a name.
  std::optional<std::string> record(std::string_view b, int32_t fields, int depth,
                                    const std::vector<TypeCatalog::Field>* names = nullptr) {
    bool stale = names != nullptr &&
                 (types_.catalog->stale() || names->size() != static_cast<size_t>(fields));
    for (size_t i = 0, pos = 4; names != nullptr && !stale && i < names->size(); ++i) {
      stale = loadU32(b.data() + pos) != (*names)[i].type_oid;
      const int32_t len = loadI32(b, pos + 4);
      pos += 8 + (len < 0 ? 0 : static_cast<size_t>(len));
    }
    Rebuilder rb(b);
    size_t pos = 4;
    for (int32_t i = 0; i < fields; ++i) {
      const uint32_t field_oid = loadU32(b.data() + pos);
      const size_t len_at = pos + 4;
      const int32_t len = loadI32(b, len_at);
      pos += 8;
      if (len < 0) continue;  // NULL
      const std::string_view field = b.substr(pos, static_cast<size_t>(len));
      pos += static_cast<size_t>(len);
      if (names != nullptr && types_.fields != nullptr) {
        const std::string_view name =
            stale ? std::string_view() : std::string_view((*names)[static_cast<size_t>(i)].name);
        FieldMask m = (*types_.fields)(name, field_oid, field);
        if (m.replace) {
          if (!m.bytes) {
            rb.replaceNull(len_at, pos);
          } else if (m.bytes->size() > kMaxLength) {
            return maskRawBytes(b);
          } else if (*m.bytes != field) {
            rb.replace(len_at, pos, *m.bytes);
          }
          continue;
        }
      }
      auto masked = value(field_oid, field, depth + 1);
      if (!masked) continue;
      if (masked->size() > kMaxLength) return maskRawBytes(b);
      rb.replace(len_at, pos, *masked);
    }
    return rb.finish();
  }

  const LeafMasker& leaf_;
  DatabaseTypes types_;
};

}  // namespace

std::optional<std::string> maskRawBytes(std::string_view bytes) {
  if (bytes.size() < kMinPanBytes || !policy::containsPan(bytes)) return std::nullopt;
  return policy::scrubPans(bytes);
}

uint32_t arrayElementOid(uint32_t type_oid) {
  for (const ArrayType& t : kArrayTypes) {
    if (t.array_oid == type_oid) return t.element_oid;
  }
  return 0;
}

bool isKnownStructuredType(uint32_t type_oid) {
  return type_oid == kRecordOid || arrayElementOid(type_oid) != 0;
}

std::optional<std::string> maskBinaryValue(uint32_t type_oid, std::string_view bytes,
                                           const LeafMasker& leaf, DatabaseTypes types) {
  Walker w(leaf, types);
  auto out = w.value(type_oid, bytes, 0);
  if (out && *out == bytes) return std::nullopt;
  return out;
}

}  // namespace tollgate::sidecar::postgres
