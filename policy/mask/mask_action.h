// Mask actions: how a detected value, or a whole column value, is rewritten.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace tollgate::policy {

struct MaskAction {
  enum class Kind {
    kPciDisplay,  // keep first `keep_first` (6 or 8) and last `keep_last` digits
    kLast4,       // keep only the last 4 digits
    kRedact,      // every character replaced (digits and letters), separators kept
    kHash,        // HMAC-SHA-256 with the policy's key, hex, truncated/padded as below
  };
  Kind kind = Kind::kPciDisplay;
  int keep_first = 6;
  int keep_last = 4;
  // Replacement character for masked digits/characters.
  char mask_char = '*';
  // For kHash: the key (raw bytes) and whether the output keeps the input length (true: the
  // hex digest is cut or repeated to the input's length) or is the full 64-char digest.
  std::string hash_key;
  bool hash_keep_length = true;

  bool operator==(const MaskAction&) const = default;
};

// Applies `action` to a detected card number (digits with optional separators). Separators
// are preserved; the length never changes except for kHash with hash_keep_length == false.
std::string maskPan(std::string_view pan, const MaskAction& action);

// Applies `action` to a whole value (column-name rules): kRedact replaces every non-space,
// non-separator character; kPciDisplay/kLast4 treat the value as digits when it is one, and
// else redact; kHash as above.
std::string maskValue(std::string_view value, const MaskAction& action);

// Lower-case hex HMAC-SHA-256(key, data).
std::string hmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace tollgate::policy
