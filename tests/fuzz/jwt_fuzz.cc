// Fuzz target for the identity parsers: compact JWS, JWKS, OIDC discovery documents and
// base64url. The first byte picks the parser; the rest is its input. Nothing may crash, and
// what is accepted must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controlplane/identity/base64url.h"
#include "controlplane/identity/jwks.h"
#include "controlplane/identity/jwt.h"
#include "controlplane/identity/key_source.h"
#include "controlplane/identity/verifier.h"

using namespace tollgate::controlplane::identity;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto jwt = parseJwt(in);
      if (!jwt.ok()) {
        if (jwt.status().code() != absl::StatusCode::kUnauthenticated) std::abort();
        return 0;
      }
      if (in.substr(0, jwt->signing_input.size()) != jwt->signing_input) std::abort();
      if (!jwt->header.is_object() || !jwt->claims.is_object() || jwt->signature.empty()) {
        std::abort();
      }
      // Any signature check on arbitrary bytes must fail cleanly (there is no key to match).
      if (verifyJwsSignature(jwt->alg, nullptr, jwt->signing_input, jwt->signature).ok()) {
        std::abort();
      }
      break;
    }
    case 1: {
      auto jwks = parseJwks(in);
      if (!jwks.ok()) return 0;
      if (jwks->keys().empty()) std::abort();
      for (const Jwk& k : jwks->keys()) {
        if (k.key == nullptr) std::abort();
        const char* alg = k.type == KeyType::kRsa ? "RS256" : "ES256";
        if (!k.kid.empty() && k.alg.empty() && jwks->select(alg, true, k.kid) != &k) std::abort();
      }
      break;
    }
    case 2: {
      auto uri = jwksUriFromDiscovery(in, "https://idp.example");
      if (uri.ok() && uri->rfind("https://", 0) != 0) std::abort();
      break;
    }
    default: {
      auto raw = base64UrlDecode(in);
      if (raw && base64UrlEncode(*raw) != in) std::abort();  // one encoding per byte string
      if (base64UrlDecode(base64UrlEncode(in)) != std::string(in)) std::abort();
      break;
    }
  }
  return 0;
}
