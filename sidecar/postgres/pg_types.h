// PostgreSQL type OIDs the masker cares about, and binary-to-text conversion for them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate::sidecar::postgres {

namespace oid {
inline constexpr uint32_t kBool = 16;
inline constexpr uint32_t kChar = 18;
inline constexpr uint32_t kName = 19;
inline constexpr uint32_t kInt8 = 20;
inline constexpr uint32_t kInt2 = 21;
inline constexpr uint32_t kInt4 = 23;
inline constexpr uint32_t kText = 25;
inline constexpr uint32_t kOid = 26;
inline constexpr uint32_t kJson = 114;
inline constexpr uint32_t kXml = 142;
inline constexpr uint32_t kFloat4 = 700;
inline constexpr uint32_t kFloat8 = 701;
inline constexpr uint32_t kUnknown = 705;
inline constexpr uint32_t kBpchar = 1042;
inline constexpr uint32_t kVarchar = 1043;
inline constexpr uint32_t kNumeric = 1700;
inline constexpr uint32_t kJsonb = 3802;
}  // namespace oid

// How a column's values look to the masker.
enum class ValueShape {
  kText,         // text-like: binary format is the same bytes as text (text, varchar, ...)
  kJsonb,        // text after a one-byte version in binary format
  kBigNumber,    // int8 / numeric: can hold a card number; binary needs conversion
  kSmallNumber,  // int2/int4/oid/float: too short for a PAN
  kOther,        // anything else: opaque in binary format
};
ValueShape shapeOf(uint32_t type_oid);

// Text form of a binary int2/int4/int8/oid/float4/float8/numeric value; nullopt when the bytes
// are not a valid value of that type.
std::optional<std::string> binaryToText(uint32_t type_oid, std::string_view bytes);

// Text form of a binary NUMERIC (exposed for tests).
std::optional<std::string> numericBinaryToText(std::string_view bytes);

// Binary form of a decimal text value of type int8 or numeric ("-123", "4111.50"); nullopt
// when the text is not such a number (or does not fit an int8).
std::optional<std::string> textToBinary(uint32_t type_oid, std::string_view text);

}  // namespace tollgate::sidecar::postgres
