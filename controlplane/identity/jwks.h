// JSON Web Key Sets (RFC 7517/7518): RSA and EC P-256 public keys as OpenSSL EVP_PKEYs.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tollgate::controlplane::identity {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

// Largest JWKS document accepted, in bytes.
inline constexpr size_t kMaxJwksBytes = 256 * 1024;
// RSA moduli outside [2048, 8192] bits are refused.
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

enum class KeyType { kRsa, kEcP256 };

// One verification key. Immutable once built.
struct Jwk {
  std::string kid;  // empty when the JWK has none
  KeyType type = KeyType::kRsa;
  // The JWK's `alg` if it had one ("RS256" / "ES256"); a key with `alg` only verifies that alg.
  std::string alg;
  EvpPkeyPtr key;  // a public key, never null
};

// A parsed key set. Immutable and therefore thread-safe; shared by KeySource as
// shared_ptr<const Jwks>.
class Jwks {
 public:
  explicit Jwks(std::vector<Jwk> keys) : keys_(std::move(keys)) {}
  const std::vector<Jwk>& keys() const { return keys_; }
  // The key a token with header `alg` (as the JWS name) and `kid` must be checked with:
  // with a kid, the key with that kid, or null when none has it or its type or `alg` does not
  // fit (a kid naming an EC key is never used for RS256, and vice versa); without a kid, the
  // only key of the fitting type, or null when there are none or several.
  const Jwk* select(std::string_view alg, bool has_kid, std::string_view kid) const;

 private:
  std::vector<Jwk> keys_;
};

// Parses a JWKS document {"keys": [...]}. Keys that do not apply are skipped: `use` other
// than "sig", `kty` other than RSA/EC, EC curves other than P-256, `alg` other than
// RS256/ES256. A key that does apply but is malformed fails the whole set with
// INVALID_ARGUMENT naming it ("keys[2] (kid \"a\"): EC x is not 32 bytes"): bad base64url,
// missing n/e/x/y, RSA size outside [kMinRsaBits, kMaxRsaBits], even or tiny exponent, an EC
// point not on the curve, private parameters ("d") present, or a kid used twice. A set with no
// usable key at all also fails. Never throws; the text is limited to kMaxJwksBytes.
absl::StatusOr<Jwks> parseJwks(std::string_view text);

}  // namespace tollgate::controlplane::identity
