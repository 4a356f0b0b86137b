// JWT verification with OpenSSL EVP_DigestVerify; ES256 R||S is converted to DER first.
#include "controlplane/identity/verifier.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

#include <cmath>
#include <memory>

#include "absl/status/status.h"

namespace tollgate::controlplane::identity {
namespace {

absl::Status bad(const std::string& what) { return absl::UnauthenticatedError("token: " + what); }

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

// ES256 signatures are R||S (RFC 7518 section 3.4); OpenSSL wants DER ECDSA-Sig-Value.
std::optional<std::string> rawEcdsaToDer(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || !sig || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// A NumericDate claim as whole seconds; nullopt when absent; error when not a finite number.
absl::StatusOr<std::optional<int64_t>> numericDate(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<int64_t>();
  if (!it->is_number()) return bad(std::string("\"") + name + "\" is not a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || v > 1e13) {
    return bad(std::string("\"") + name + "\" is out of range");
  }
  return std::optional<int64_t>(static_cast<int64_t>(std::floor(v)));
}

}  // namespace

absl::Status verifyJwsSignature(JwsAlg alg, const EVP_PKEY* key, std::string_view input,
                                std::string_view signature) {
  int want = alg == JwsAlg::kRs256 ? EVP_PKEY_RSA : EVP_PKEY_EC;
  if (key == nullptr || EVP_PKEY_get_base_id(key) != want) {
    return bad(std::string("key type does not fit alg ") + jwsAlgName(alg));
  }
  std::string der;
  if (alg == JwsAlg::kEs256) {
    std::optional<std::string> d = rawEcdsaToDer(signature);
    if (!d) return bad("ES256 signature is not 64 bytes (R||S)");
    der = std::move(*d);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  bool ok = md &&
            EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr,
                                 const_cast<EVP_PKEY*>(key)) == 1 &&
            EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  ERR_clear_error();
  if (!ok) return bad("signature does not verify");
  return absl::OkStatus();
}

JwtVerifier::JwtVerifier(std::vector<TrustedIssuer> issuers, ClockPtr clock,
                         std::chrono::seconds leeway)
    : issuers_(std::move(issuers)), clock_(std::move(clock)), leeway_(leeway) {}

absl::StatusOr<VerifiedJwt> JwtVerifier::verify(std::string_view token) const {
  absl::StatusOr<ParsedJwt> jwt = parseJwt(token);
  if (!jwt.ok()) return jwt.status();
  auto iss_it = jwt->claims.find("iss");
  if (iss_it == jwt->claims.end() || !iss_it->is_string()) return bad("no \"iss\" claim");
  const std::string& iss = iss_it->get_ref<const std::string&>();
  size_t index = issuers_.size();
  for (size_t i = 0; i < issuers_.size(); ++i) {
    if (issuers_[i].issuer == iss) index = i;
  }
  if (index == issuers_.size()) {
    return bad("issuer \"" + sanitizeForMessage(iss) + "\" is not trusted");
  }
  const TrustedIssuer& issuer = issuers_[index];
  const char* alg = jwsAlgName(jwt->alg);
  absl::StatusOr<JwksPtr> keys = issuer.keys->keys();
  if (!keys.ok()) return keys.status();
  const Jwk* key = (*keys)->select(alg, jwt->has_kid, jwt->kid);
  if (key == nullptr && jwt->has_kid) {
    keys = issuer.keys->keysAfterUnknownKid();
    if (!keys.ok()) return keys.status();
    key = (*keys)->select(alg, jwt->has_kid, jwt->kid);
  }
  if (key == nullptr) {
    std::string kid = jwt->has_kid ? "kid \"" + sanitizeForMessage(jwt->kid) + "\"" : "no kid";
    return bad("no " + std::string(alg) + " key of issuer " + issuer.issuer + " fits (" + kid +
               ")");
  }
  if (absl::Status s =
          verifyJwsSignature(jwt->alg, key->key.get(), jwt->signing_input, jwt->signature);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = checkClaims(jwt->claims, issuer); !s.ok()) return s;
  VerifiedJwt out;
  out.issuer_index = index;
  out.issuer = issuer.issuer;
  out.alg = jwt->alg;
  out.kid = key->kid;
  out.claims = std::move(jwt->claims);
  return out;
}

absl::Status JwtVerifier::checkClaims(const nlohmann::json& claims,
                                      const TrustedIssuer& issuer) const {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_->now().time_since_epoch()).count();
  const int64_t leeway = leeway_.count();
  absl::StatusOr<std::optional<int64_t>> exp = numericDate(claims, "exp");
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) return bad("no \"exp\" claim (tokens must expire)");
  if (now >= **exp + leeway) return bad("expired");
  absl::StatusOr<std::optional<int64_t>> nbf = numericDate(claims, "nbf");
  if (!nbf.ok()) return nbf.status();
  if (nbf->has_value() && now + leeway < **nbf) return bad("not valid yet (nbf)");
  absl::StatusOr<std::optional<int64_t>> iat = numericDate(claims, "iat");
  if (!iat.ok()) return iat.status();
  if (iat->has_value() && **iat > now + leeway) return bad("issued in the future (iat)");

  auto aud = claims.find("aud");
  bool match = false;
  if (aud == claims.end()) return bad("no \"aud\" claim");
  if (aud->is_string()) {
    match = aud->get_ref<const std::string&>() == issuer.audience;
  } else if (aud->is_array()) {
    for (const auto& a : *aud) {
      if (!a.is_string()) return bad("\"aud\" holds a non-string");
      if (a.get_ref<const std::string&>() == issuer.audience) match = true;
    }
  } else {
    return bad("\"aud\" is neither a string nor an array");
  }
  if (!match) return bad("audience does not include \"" + issuer.audience + "\"");
  return absl::OkStatus();
}

}  // namespace tollgate::controlplane::identity
