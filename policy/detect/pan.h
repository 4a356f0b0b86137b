// Card-number (PAN) detection: a single-pass scanner, no regex on the hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tollgate::policy {

enum class CardBrand : uint8_t {
  kUnknown,
  kVisa,
  kMastercard,
  kAmex,
  kDiscover,
  kJcb,
  kDiners,
  kUnionPay,
  kMaestro,
};
std::string_view brandName(CardBrand b);

// One card number found in a text. `begin`/`end` are byte offsets of the whole match in the
// scanned text, separators included; `digits` is the count of digits (12-19).
struct PanMatch {
  size_t begin = 0;
  size_t end = 0;
  uint8_t digits = 0;
  CardBrand brand = CardBrand::kUnknown;
};

// Luhn check over the digits of `s` (non-digits skipped).
bool luhnValid(std::string_view digits);
// Brand for a digit string of a plausible length, or kUnknown when the issuer prefix / length
// combination is implausible.
CardBrand cardBrand(std::string_view digits);

// Finds card numbers: 12-19 digits, optionally separated by single spaces or single dashes
// (one separator kind per number), not adjacent to another digit or to a letter/digit-joined
// token (UUID pieces, hex ids), Luhn-valid, with a plausible issuer prefix and length.
// Appends matches to `out` in order; returns the number appended. Thread-safe, allocation-free
// except for `out`.
size_t findPans(std::string_view text, std::vector<PanMatch>& out);

// True if findPans would find at least one match (stops at the first).
bool containsPan(std::string_view text);

}  // namespace tollgate::policy
