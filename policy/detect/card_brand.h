// Issuer (IIN) and length tables for card brands, and the Luhn check on raw digit buffers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/detect/pan.h"

namespace tollgate::policy::detect {

// Brand for a card number whose first six digits are `prefix6` (as an integer, 0..999999; a
// number is at least 12 digits long so six are always present) and whose length is `length`
// digits. kUnknown when no brand issues that prefix at that length. Ranges (indicative, from
// PCI.md), most specific first:
//   Visa 4 (13/16/19) | Amex 34, 37 (15) | Mastercard 51-55, 2221-2720 (16)
//   Discover 6011, 622126-622925, 644-649, 65 (16-19) | JCB 3528-3589 (16)
//   Diners 300-305, 309, 36, 38-39 (14) | UnionPay 62 (16-19) | Maestro 50, 56-69 (12-19)
CardBrand brandForPrefix(uint32_t prefix6, size_t length);

// True if the first digit alone can start a card number of some brand (2-6). A cheap filter
// applied before anything else: ids and timestamps starting with 0, 1, 7, 8, 9 are never PANs.
inline bool plausibleLeadDigit(char c) { return c >= '2' && c <= '6'; }

// Luhn over `n` bytes that are all ASCII digits (the caller guarantees it). n >= 2.
bool luhnDigits(const char* digits, size_t n);

}  // namespace tollgate::policy::detect
