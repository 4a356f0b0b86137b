// PostgreSQL type OIDs the masker cares about, and binary-to-text conversion for them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace tollgate::sidecar::postgres {

namespace oid {
inline constexpr uint32_t kBool = 16;
inline constexpr uint32_t kBytea = 17;
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
inline constexpr uint32_t kMoney = 790;
inline constexpr uint32_t kBpchar = 1042;
inline constexpr uint32_t kVarchar = 1043;
inline constexpr uint32_t kNumeric = 1700;
inline constexpr uint32_t kJsonb = 3802;
}  // namespace oid

// How a column's values look to the masker.
enum class ValueShape {
  kText,         // text-like: binary format is the same bytes as text (text, varchar, ...)
  kJsonb,        // text after a one-byte version in binary format
  kBigNumber,    // int8 / numeric / float8 / money: can hold a card number; binary needs
                 // conversion; text may need policy/detect/number_forms.h to show its digits
  kSmallNumber,  // int2/int4/oid/float4/bool: cannot hold a PAN
  kOther,        // anything else: opaque in binary format
};
ValueShape shapeOf(uint32_t type_oid);

// Text form of a binary int2/int4/int8/oid/float4/float8/numeric/money value; nullopt when the
// bytes are not a valid value of that type. float8 is written in its shortest exact form
// ("4111111111111111", "1e+20", "NaN", "Infinity"); money, which carries no locale in binary,
// as its int8 cents with two decimals and no currency symbol ("-4111111111111111.00").
std::optional<std::string> binaryToText(uint32_t type_oid, std::string_view bytes);

// Text form of a binary NUMERIC (exposed for tests).
std::optional<std::string> numericBinaryToText(std::string_view bytes);

// Binary form of a decimal text value of type int8 or numeric ("-123", "4111.50"), float8
// ("4.111111111111111e+15", "-12.5") or money as binaryToText writes it ("-41.50"); nullopt
// when the text is not such a number (or does not fit the type).
std::optional<std::string> textToBinary(uint32_t type_oid, std::string_view text);

// The value of hex digit `c`, or -1.
int hexValue(char c);

}  // namespace tollgate::sidecar::postgres
