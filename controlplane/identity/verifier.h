// JWT verification: signature against the issuer's JWKS, then exp/nbf/iat/iss/aud claims.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/identity/jwt.h"
#include "controlplane/identity/key_source.h"

namespace tollgate::controlplane::identity {

// One issuer the verifier trusts.
struct TrustedIssuer {
  std::string issuer;    // exact `iss`
  std::string audience;  // must be in `aud`
  KeySourcePtr keys;     // never null
};

// A token whose signature and time/issuer/audience claims checked out.
struct VerifiedJwt {
  size_t issuer_index = 0;  // into the verifier's issuers
  std::string issuer;
  JwsAlg alg = JwsAlg::kRs256;
  std::string kid;
  nlohmann::json claims;  // a JSON object; trustworthy now
};

// Verifies compact JWS tokens. Immutable after construction; verify() is thread-safe (the key
// sources are).
class JwtVerifier {
 public:
  // `leeway` is the clock skew tolerated on exp, nbf and iat.
  JwtVerifier(std::vector<TrustedIssuer> issuers, ClockPtr clock,
              std::chrono::seconds leeway = std::chrono::seconds(60));

  // Checks, in this order: structure (parseJwt), `iss` is a string naming a trusted issuer,
  // a key of that issuer fits the header (kid and alg vs key type; an unknown kid lets the
  // source refetch once), the signature verifies (RS256: RSASSA-PKCS1-v1_5 SHA-256; ES256:
  // raw 64-byte R||S over SHA-256), `exp` is present and now < exp + leeway, now >= nbf -
  // leeway when nbf is present, iat <= now + leeway when present, and `aud` (string or
  // array of strings) holds the issuer's audience. exp/nbf/iat must be numbers.
  //
  // Errors: UNAUTHENTICATED "token: <what failed>" for a bad token; UNAVAILABLE when the
  // issuer's keys cannot be loaded (retry later). Messages may name the issuer, kid and alg
  // (sanitised) but never include the token, its signature or other claims.
  absl::StatusOr<VerifiedJwt> verify(std::string_view token) const;

  const std::vector<TrustedIssuer>& issuers() const { return issuers_; }

 private:
  absl::Status checkClaims(const nlohmann::json& claims, const TrustedIssuer& issuer) const;

  std::vector<TrustedIssuer> issuers_;
  ClockPtr clock_;
  std::chrono::seconds leeway_;
};

// Verifies `signature` over `input` with `key` for `alg`. UNAUTHENTICATED when it does not
// verify (including an ES256 signature that is not 64 bytes, or a key of the wrong type).
absl::Status verifyJwsSignature(JwsAlg alg, const EVP_PKEY* key, std::string_view input,
                                std::string_view signature);

}  // namespace tollgate::controlplane::identity
