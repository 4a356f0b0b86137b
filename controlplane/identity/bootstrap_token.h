// The bootstrap admin token: a long random secret read from a file, compared in constant time.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tollgate::controlplane::identity {

// Shortest secret accepted, in characters (e.g. `openssl rand -hex 32` gives 64).
inline constexpr size_t kMinBootstrapTokenChars = 32;

// Holds only the SHA-256 of the secret. Immutable; matches() is thread-safe.
class BootstrapToken {
 public:
  // Reads `path`; one trailing newline (LF or CRLF) is dropped. Fails with FAILED_PRECONDITION
  // naming the file (never its content) when it cannot be read, is empty, is shorter than
  // kMinBootstrapTokenChars, or holds whitespace or control characters.
  static absl::StatusOr<BootstrapToken> loadFile(const std::string& path);
  // Same checks on the secret itself (for tests and callers that got it elsewhere).
  static absl::StatusOr<BootstrapToken> fromSecret(std::string_view secret);

  // True when `presented` is the secret. Time depends on neither the secret nor how much of
  // it `presented` shares: both sides are hashed and the digests compared with CRYPTO_memcmp.
  bool matches(std::string_view presented) const;

 private:
  explicit BootstrapToken(std::array<unsigned char, 32> digest) : digest_(digest) {}
  std::array<unsigned char, 32> digest_;
};

}  // namespace tollgate::controlplane::identity
