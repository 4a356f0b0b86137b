// Test helpers for card numbers: Luhn-completed PANs from a prefix, and card-style grouping.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tollgate::testing {

// The Luhn check digit that completes `payload` (digits only).
inline char luhnCheckDigit(const std::string& payload) {
  int sum = 0;
  bool dbl = true;  // the payload's last digit is doubled once the check digit is appended
  for (size_t i = payload.size(); i-- > 0;) {
    int d = payload[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

// A Luhn-valid number of `length` digits starting with `prefix`; the middle digits come from
// `seed`, so different seeds give different numbers.
inline std::string makePan(const std::string& prefix, size_t length, uint64_t seed = 1) {
  std::string s = prefix;
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
  while (s.size() + 1 < length) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    s.push_back(static_cast<char>('0' + x % 10));
  }
  s.push_back(luhnCheckDigit(s));
  return s;
}

// The same number with its last digit changed: fails Luhn.
inline std::string breakLuhn(std::string pan) {
  pan.back() = static_cast<char>('0' + (pan.back() - '0' + 1) % 10);
  return pan;
}

// The usual printed grouping for a card number of `length` digits.
inline std::vector<size_t> usualGrouping(size_t length) {
  switch (length) {
    case 12:
      return {4, 4, 4};
    case 13:
      return {4, 4, 5};
    case 14:
      return {4, 6, 4};
    case 15:
      return {4, 6, 5};
    case 16:
      return {4, 4, 4, 4};
    case 17:
      return {4, 4, 4, 5};
    case 18:
      return {4, 4, 4, 6};
    case 19:
      return {4, 4, 4, 4, 3};
    default:
      return {length};
  }
}

// `digits` split by `sep` into the usual grouping; sep == 0 keeps the digits as they are.
inline std::string formatPan(const std::string& digits, char sep) {
  if (sep == 0) return digits;
  std::string out;
  size_t pos = 0;
  for (size_t g : usualGrouping(digits.size())) {
    if (pos > 0) out.push_back(sep);
    out += digits.substr(pos, g);
    pos += g;
  }
  return out;
}

}  // namespace tollgate::testing
