// Card brand tables and the Luhn check.
#include "policy/detect/card_brand.h"

#include <string_view>

namespace tollgate::policy {
namespace detect {

CardBrand brandForPrefix(uint32_t prefix6, size_t length) {
  const uint32_t p1 = prefix6 / 100000;
  const uint32_t p2 = prefix6 / 10000;
  const uint32_t p3 = prefix6 / 1000;
  const uint32_t p4 = prefix6 / 100;
  if (length < 12 || length > 19) return CardBrand::kUnknown;
  if (p1 == 4) {
    return (length == 13 || length == 16 || length == 19) ? CardBrand::kVisa : CardBrand::kUnknown;
  }
  if (p2 == 34 || p2 == 37) return length == 15 ? CardBrand::kAmex : CardBrand::kUnknown;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) {
    return length == 16 ? CardBrand::kMastercard : CardBrand::kUnknown;
  }
  if (p4 >= 3528 && p4 <= 3589) return length == 16 ? CardBrand::kJcb : CardBrand::kUnknown;
  if ((p3 >= 300 && p3 <= 305) || p3 == 309 || p2 == 36 || p2 == 38 || p2 == 39) {
    return length == 14 ? CardBrand::kDiners : CardBrand::kUnknown;
  }
  const bool long_enough = length >= 16;
  if (long_enough && (p4 == 6011 || (prefix6 >= 622126 && prefix6 <= 622925) ||
                      (p3 >= 644 && p3 <= 649) || p2 == 65)) {
    return CardBrand::kDiscover;
  }
  if (long_enough && p2 == 62) return CardBrand::kUnionPay;
  // Maestro covers 50 and 56-69 at any length 12-19, including Discover/UnionPay prefixes at
  // lengths those brands do not issue.
  if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return CardBrand::kMaestro;
  return CardBrand::kUnknown;
}

bool luhnDigits(const char* digits, size_t n) {
  // Doubled digit with its digits summed: 0->0, 1->2, ..., 5->1 (10), ..., 9->9 (18).
  static constexpr uint8_t kDoubled[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9};
  unsigned sum = 0;
  bool dbl = false;
  for (size_t i = n; i-- > 0;) {
    const unsigned d = static_cast<unsigned>(digits[i] - '0');
    sum += dbl ? kDoubled[d] : d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

}  // namespace detect

std::string_view brandName(CardBrand b) {
  switch (b) {
    case CardBrand::kVisa:
      return "visa";
    case CardBrand::kMastercard:
      return "mastercard";
    case CardBrand::kAmex:
      return "amex";
    case CardBrand::kDiscover:
      return "discover";
    case CardBrand::kJcb:
      return "jcb";
    case CardBrand::kDiners:
      return "diners";
    case CardBrand::kUnionPay:
      return "unionpay";
    case CardBrand::kMaestro:
      return "maestro";
    case CardBrand::kUnknown:
      break;
  }
  return "unknown";
}

namespace {

// Copies the ASCII digits of `s` into `buf` (at most `cap`); returns the digit count, which may
// exceed `cap` (then only the first `cap` were copied).
size_t collectDigits(std::string_view s, char* buf, size_t cap) {
  size_t n = 0;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      if (n < cap) buf[n] = c;
      ++n;
    }
  }
  return n;
}

}  // namespace

bool luhnValid(std::string_view digits) {
  // Long inputs are checked without a buffer: the same right-to-left walk, skipping non-digits.
  static constexpr uint8_t kDoubled[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9};
  unsigned sum = 0;
  size_t count = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    const char c = digits[i];
    if (c < '0' || c > '9') continue;
    const unsigned d = static_cast<unsigned>(c - '0');
    sum += (count % 2 == 1) ? kDoubled[d] : d;
    ++count;
  }
  return count >= 2 && sum % 10 == 0;
}

CardBrand cardBrand(std::string_view digits) {
  char buf[19];
  const size_t n = collectDigits(digits, buf, sizeof(buf));
  if (n < 12 || n > 19) return CardBrand::kUnknown;
  uint32_t prefix6 = 0;
  for (int i = 0; i < 6; ++i) prefix6 = prefix6 * 10 + static_cast<uint32_t>(buf[i] - '0');
  return detect::brandForPrefix(prefix6, n);
}

}  // namespace tollgate::policy
