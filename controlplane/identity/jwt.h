// Compact JWS (RFC 7515) parsing for JWTs: segments, base64url, header and claims JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace tollgate::controlplane::identity {

// Largest token accepted, in bytes of its compact serialisation.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

// The only signature algorithms Tollgate accepts. `none`, HS* (shared secrets, and the
// RSA-public-key-as-HMAC-secret confusion), PS*, ES384/512 and EdDSA are all refused.
enum class JwsAlg { kRs256, kEs256 };
const char* jwsAlgName(JwsAlg alg);

// A token split and decoded, NOT yet verified: nothing in it may be trusted until
// JwtVerifier has checked the signature.
struct ParsedJwt {
  JwsAlg alg = JwsAlg::kRs256;
  // `kid` header; empty when absent (has_kid false).
  std::string kid;
  bool has_kid = false;
  nlohmann::json header;  // the JOSE header, a JSON object
  nlohmann::json claims;  // the claims set, a JSON object
  // ASCII(BASE64URL(header) '.' BASE64URL(payload)): the bytes the signature covers.
  std::string signing_input;
  // The decoded signature bytes (RS256: modulus-sized; ES256: R||S, 64 bytes).
  std::string signature;
};

// Parses a compact JWS. Fails with UNAUTHENTICATED and a message saying which part is wrong
// ("token: ...") when: the token is empty or longer than kMaxTokenBytes; it has other than
// three dot-separated segments (a JWE's five included); a segment is not strict unpadded
// base64url; the header or claims are not JSON objects (see parseStrictJsonObject for depth
// and duplicate keys); `alg` is missing or not RS256/ES256; the header carries `crit` (no
// extension is understood) or a non-string `kid`; the signature segment is empty. Embedded
// key headers (`jwk`, `jku`, `x5u`, `x5c`) are ignored: keys only ever come from configured
// JWKS. Messages never quote the token, its claims or its signature. Never throws.
absl::StatusOr<ParsedJwt> parseJwt(std::string_view token);

// Printable-ASCII rendering of an untrusted short string for error messages: other bytes
// become '?', and more than 64 bytes are cut with "...".
std::string sanitizeForMessage(std::string_view s);

}  // namespace tollgate::controlplane::identity
