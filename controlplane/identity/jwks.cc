// JWKS parsing: JWK members to OpenSSL 3 keys through OSSL_PARAM_BLD / EVP_PKEY_fromdata.
#include "controlplane/identity/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <optional>
#include <set>

#include "absl/status/status.h"
#include "controlplane/identity/base64url.h"
#include "controlplane/identity/jwt.h"
#include "controlplane/identity/strict_json.h"

namespace tollgate::controlplane::identity {
namespace {

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamsFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

// A base64url member of the JWK as bytes, or an error naming it.
absl::StatusOr<std::string> bytesMember(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    return absl::InvalidArgumentError(std::string("missing \"") + name + "\"");
  }
  std::optional<std::string> raw = base64UrlDecode(it->get_ref<const std::string&>());
  if (!raw || raw->empty()) {
    return absl::InvalidArgumentError(std::string("\"") + name + "\" is not base64url");
  }
  return *raw;
}

BnPtr toBn(const std::string& bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

absl::StatusOr<EvpPkeyPtr> fromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamsFree> params(OSSL_PARAM_BLD_to_param(bld));
  CtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError("OpenSSL refused the key parameters");
  }
  return EvpPkeyPtr(raw);
}

absl::StatusOr<EvpPkeyPtr> rsaKey(const nlohmann::json& jwk) {
  absl::StatusOr<std::string> n = bytesMember(jwk, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = bytesMember(jwk, "e");
  if (!e.ok()) return e.status();
  BnPtr bn_n = toBn(*n), bn_e = toBn(*e);
  if (!bn_n || !bn_e) return absl::InternalError("out of memory");
  int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return absl::InvalidArgumentError("RSA modulus has " + std::to_string(bits) +
                                      " bits (accepted: 2048..8192)");
  }
  if (e->size() > 8 || !BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) < 2) {
    return absl::InvalidArgumentError("RSA exponent is not an odd number in [3, 2^64)");
  }
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError("OSSL_PARAM_BLD failed");
  }
  return fromData("RSA", bld.get());
}

absl::StatusOr<EvpPkeyPtr> ecKey(const nlohmann::json& jwk) {
  absl::StatusOr<std::string> x = bytesMember(jwk, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = bytesMember(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != 32) return absl::InvalidArgumentError("EC x is not 32 bytes");
  if (y->size() != 32) return absl::InvalidArgumentError("EC y is not 32 bytes");
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  char group[] = "P-256";
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError("OSSL_PARAM_BLD failed");
  }
  absl::StatusOr<EvpPkeyPtr> key = fromData("EC", bld.get());
  if (!key.ok()) return absl::InvalidArgumentError("EC point is not on P-256");
  // fromdata decodes the point; check it explicitly anyway (invalid-curve attacks).
  CtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError("EC point is not on P-256");
  }
  return key;
}

std::string stringMember(const nlohmann::json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

const Jwk* Jwks::select(std::string_view alg, bool has_kid, std::string_view kid) const {
  KeyType want = alg == "ES256" ? KeyType::kEcP256 : KeyType::kRsa;
  if (alg != "ES256" && alg != "RS256") return nullptr;
  auto fits = [&](const Jwk& k) { return k.type == want && (k.alg.empty() || k.alg == alg); };
  if (has_kid) {
    for (const Jwk& k : keys_) {
      if (k.kid == kid) return fits(k) ? &k : nullptr;
    }
    return nullptr;
  }
  const Jwk* found = nullptr;
  for (const Jwk& k : keys_) {
    if (!fits(k)) continue;
    if (found != nullptr) return nullptr;  // ambiguous
    found = &k;
  }
  return found;
}

absl::StatusOr<Jwks> parseJwks(std::string_view text) {
  if (text.size() > kMaxJwksBytes) {
    return absl::InvalidArgumentError("JWKS: larger than " + std::to_string(kMaxJwksBytes) +
                                      " bytes");
  }
  absl::StatusOr<nlohmann::json> doc = parseStrictJsonObject(text, "JWKS");
  if (!doc.ok()) return doc.status();
  auto keys_it = doc->find("keys");
  if (keys_it == doc->end() || !keys_it->is_array()) {
    return absl::InvalidArgumentError("JWKS: no \"keys\" array");
  }
  std::vector<Jwk> keys;
  std::set<std::string> kids;
  for (size_t i = 0; i < keys_it->size(); ++i) {
    const nlohmann::json& j = (*keys_it)[i];
    std::string where = "JWKS: keys[" + std::to_string(i) + "]";
    if (!j.is_object()) return absl::InvalidArgumentError(where + ": not an object");
    std::string kty = stringMember(j, "kty"), use = stringMember(j, "use");
    std::string alg = stringMember(j, "alg"), crv = stringMember(j, "crv");
    if (j.contains("use") && use != "sig") continue;
    if (!alg.empty() && alg != "RS256" && alg != "ES256") continue;
    Jwk key;
    key.kid = stringMember(j, "kid");
    key.alg = alg;
    if (!key.kid.empty()) where += " (kid \"" + sanitizeForMessage(key.kid) + "\")";
    if (j.contains("kid") && !j["kid"].is_string()) {
      return absl::InvalidArgumentError(where + ": \"kid\" is not a string");
    }
    if (j.contains("d")) {
      return absl::InvalidArgumentError(where + ": holds private key material (\"d\")");
    }
    absl::StatusOr<EvpPkeyPtr> pkey;
    if (kty == "RSA") {
      if (alg == "ES256") return absl::InvalidArgumentError(where + ": RSA key with alg ES256");
      key.type = KeyType::kRsa;
      pkey = rsaKey(j);
    } else if (kty == "EC") {
      if (crv != "P-256") continue;
      if (alg == "RS256") return absl::InvalidArgumentError(where + ": EC key with alg RS256");
      key.type = KeyType::kEcP256;
      pkey = ecKey(j);
    } else {
      continue;
    }
    if (!pkey.ok()) {
      return absl::InvalidArgumentError(where + ": " + std::string(pkey.status().message()));
    }
    if (!key.kid.empty() && !kids.insert(key.kid).second) {
      return absl::InvalidArgumentError(where + ": kid used twice");
    }
    key.key = std::move(*pkey);
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return absl::InvalidArgumentError("JWKS: no usable RS256/ES256 key");
  return Jwks(std::move(keys));
}

}  // namespace tollgate::controlplane::identity
