// Mask actions: PCI display mask, last-4, redact and keyed hash, all length-preserving by
// default.
//
// Reveal limits are enforced here whatever the policy says (PCI DSS 3.4.1): at most the first 8
// digits (first 6 when the number has fewer than 16) and the last 4. Values with fewer digits
// than a card number are fully masked by kPciDisplay (< 12 digits) and kLast4 (< 8 digits):
// revealing part of a short secret (CVV, PIN) is never a display mask.
#include "policy/mask/mask_action.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

namespace tollgate::policy {
namespace {

inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isSeparator(char c) { return c == ' ' || c == '-'; }

// The mask character, or '*' when the configured one could forge digits or separators.
char maskChar(const MaskAction& action) {
  const char c = action.mask_char;
  if (c < 0x21 || c > 0x7e || isDigit(c) || c == '-') return '*';
  return c;
}

size_t countDigits(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), isDigit));
}

// True when `value` is digits with optional spaces/dashes (at least one digit).
bool isDigitValue(std::string_view value) {
  bool any = false;
  for (char c : value) {
    if (isDigit(c)) {
      any = true;
    } else if (!isSeparator(c)) {
      return false;
    }
  }
  return any;
}

// Hex characters of HMAC(key, digits of `s`) written over the digit positions of `s`.
std::string hashDigitsInPlace(std::string_view s, const MaskAction& action) {
  std::string digits;
  digits.reserve(s.size());
  for (char c : s) {
    if (isDigit(c)) digits.push_back(c);
  }
  const std::string hex = hmacSha256Hex(action.hash_key, digits);
  if (!action.hash_keep_length) return hex;
  std::string out(s);
  size_t k = 0;
  for (char& c : out) {
    if (isDigit(c)) c = hex[k++ % hex.size()];
  }
  return out;
}

// Hex of HMAC(key, s), cut or repeated to `s`'s length (or the full digest).
std::string hashWhole(std::string_view s, const MaskAction& action) {
  const std::string hex = hmacSha256Hex(action.hash_key, s);
  if (!action.hash_keep_length) return hex;
  std::string out(s.size(), '0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = hex[i % hex.size()];
  return out;
}

// How many leading/trailing digits of a `digits`-long number an action may reveal.
struct Reveal {
  size_t first = 0;
  size_t last = 0;
};

Reveal revealFor(size_t digits, const MaskAction& action) {
  Reveal r;
  if (action.kind == MaskAction::Kind::kPciDisplay && digits >= 12) {
    const int max_first = digits >= 16 ? 8 : 6;
    r.first = static_cast<size_t>(std::clamp(action.keep_first, 0, max_first));
    r.last = static_cast<size_t>(std::clamp(action.keep_last, 0, 4));
  } else if (action.kind == MaskAction::Kind::kLast4 && digits >= 8) {
    r.last = 4;
  }
  return r;
}

// Masks the digits of `s` outside the revealed prefix/suffix; everything else is kept.
std::string maskDigits(std::string_view s, const MaskAction& action) {
  const size_t digits = countDigits(s);
  const Reveal r = revealFor(digits, action);
  const char mc = maskChar(action);
  std::string out(s);
  size_t k = 0;
  for (char& c : out) {
    if (!isDigit(c)) continue;
    if (k >= r.first && k + r.last < digits) c = mc;
    ++k;
  }
  return out;
}

}  // namespace

std::string hmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  static const unsigned char kEmpty = 0;
  const auto* d = data.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), mac, &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(mac_len) * 2, '0');
  for (unsigned int i = 0; i < mac_len; ++i) {
    out[2 * i] = kHex[mac[i] >> 4];
    out[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return out;
}

std::string maskPan(std::string_view pan, const MaskAction& action) {
  if (action.kind == MaskAction::Kind::kHash) return hashDigitsInPlace(pan, action);
  return maskDigits(pan, action);
}

std::string maskValue(std::string_view value, const MaskAction& action) {
  if (isDigitValue(value)) return maskPan(value, action);
  if (action.kind == MaskAction::Kind::kHash) return hashWhole(value, action);
  const char mc = maskChar(action);
  std::string out(value);
  for (char& c : out) {
    if (!isSeparator(c) && c != '\t' && c != '\n' && c != '\r') c = mc;
  }
  return out;
}

}  // namespace tollgate::policy
