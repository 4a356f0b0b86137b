// Integral numbers written with a decimal point, an exponent or money separators, read as the
// plain digit string the card-number detector scans, and written back in their own notation.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace tollgate::policy {

enum class NumberForm {
  // A decimal number: [+-]digits[.digits][(e|E)[+-]digits], at least one digit before the
  // exponent ("5.", ".5" accepted). This is how float8 text output ("4.111111111111111e+15"),
  // JSON numbers and numeric text write numbers.
  kDecimal,
  // PostgreSQL money text output, whatever lc_monetary says: the digits of a decimal number
  // among any other bytes (currency symbol, thousands separators, sign, parentheses). The
  // decimal separator is the last '.' or ',' followed by one or two digits and no further digit
  // ("$4,111.00", "4.111,00 EUR"); with none the value has no fraction ("¥4,111"). Negative
  // when a '-' or '(' appears.
  kMoney,
};

// The most digits readIntegral() reads: the detector only reports 12-19 digit runs bounded by
// non-digits, so a longer integer cannot be one card number; the bound also keeps "1e999999"
// cheap.
inline constexpr size_t kMaxIntegralDigits = 19;

// An integer read from a number rendering.
struct IntegralNumber {
  std::string digits;  // decimal digits of the absolute value, no leading zero ("0" for zero)
  bool negative = false;
};

// The integer `text` writes in `form`: "4.111111111111111e+15" -> 4111111111111111,
// "$4,111,111,111,111,111.00" (kMoney) -> 4111111111111111, "-41.0" -> -41. Returns nullopt
// when `text` is not a number of that form, has a nonzero fraction, or its integer has more
// than kMaxIntegralDigits digits. Never throws; allocates only the result.
std::optional<IntegralNumber> readIntegral(std::string_view text, NumberForm form);

// `original` (a text readIntegral() read as an integer of N digits) written again with the N
// characters of `digits` as its integer digits:
// - without an exponent the integer digits are replaced in place; sign, separators, currency
//   symbol and (zero) fraction stay as they are ("$4,111,111,111,111,111.00" with
//   4111110000001111 gives "$4,111,110,000,001,111.00");
// - with an exponent the number is written normalised, keeping the original's sign character,
//   exponent letter and explicit '+': "4.111111111111111e+15" gives "4.111110000001111e+15",
//   "41111111111111.11E2" gives "4.111110000001111E15".
// Leading zeros in `digits` (a mask that hid the first digits) are written in place, or
// dropped from the normalised exponent form. Returns nullopt when `original` is not readable or
// `digits` is not N decimal digits. The result reads back as `digits` without leading zeros.
std::optional<std::string> writeIntegralLike(std::string_view original, NumberForm form,
                                             std::string_view digits);

// What is left of `masked` (a mask of `original`) once it must still be a number of the same
// shape: `original`'s length, and every character the mask changed to a non-digit becomes '0';
// kept characters and digits the mask wrote stay. With "4111111111111111" and
// "411111******1111" gives "4111110000001111". For computed values that must keep their type.
std::string zeroHiddenDigits(std::string_view original, std::string_view masked);

// Receives the digits of an integer (readIntegral's) and returns the digits to write instead
// (same count, decimal digits), or nullopt to leave it. Must not throw.
using IntegralRewriter = absl::FunctionRef<std::optional<std::string>(std::string_view digits)>;

// Rewrites the integers written in exponent form inside free text, as array and record text
// output write float8 elements ("{4.111111111111111e+15,1.5}"): every token
// [+-]digits[.digits](e|E)[+-]digits not joined to a letter, digit or '.' that readIntegral()
// reads is given to `rewrite`, and written again in its place with writeIntegralLike(). Returns
// the new text, or nullopt when nothing changed. Never throws.
std::optional<std::string> rewriteExponentIntegers(std::string_view text,
                                                   const IntegralRewriter& rewrite);

// The same for decimals whose fraction is zeros only ("{4111111111111111.00,1.5}", numeric
// elements): the digits before the point are given to `rewrite`, which must keep their count.
std::optional<std::string> rewriteZeroFractionIntegers(std::string_view text,
                                                       const IntegralRewriter& rewrite);

}  // namespace tollgate::policy
