// Test-only JWT minting: fresh RSA/EC keys, their JWKs, and RS256/ES256/HS256 compact tokens.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "controlplane/identity/base64url.h"
#include "controlplane/identity/jwks.h"

namespace tollgate::testing {

using controlplane::identity::base64UrlEncode;
using controlplane::identity::EvpPkeyPtr;
using Json = nlohmann::json;

inline EvpPkeyPtr newRsaKey(unsigned bits = 2048) {
  EVP_PKEY* k = EVP_RSA_gen(bits);
  if (k == nullptr) throw std::runtime_error("EVP_RSA_gen");
  return EvpPkeyPtr(k);
}

inline EvpPkeyPtr newEcKey() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (k == nullptr) throw std::runtime_error("EVP_EC_gen");
  return EvpPkeyPtr(k);
}

// A BIGNUM parameter of `key` as big-endian bytes, left-padded to `pad` (0: minimal).
inline std::string bnParam(const EVP_PKEY* key, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error(name);
  int len = pad > 0 ? pad : BN_num_bytes(bn);
  std::string out(static_cast<size_t>(len), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
  BN_free(bn);
  return out;
}

// The public JWK of `key` (RSA or EC P-256); empty kid leaves "kid" out.
inline Json publicJwk(const EVP_PKEY* key, const std::string& kid) {
  Json j;
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    j = {{"kty", "RSA"},
         {"n", base64UrlEncode(bnParam(key, OSSL_PKEY_PARAM_RSA_N))},
         {"e", base64UrlEncode(bnParam(key, OSSL_PKEY_PARAM_RSA_E))}};
  } else {
    j = {{"kty", "EC"},
         {"crv", "P-256"},
         {"x", base64UrlEncode(bnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
         {"y", base64UrlEncode(bnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  }
  if (!kid.empty()) j["kid"] = kid;
  j["use"] = "sig";
  return j;
}

inline std::string jwksText(std::initializer_list<Json> keys) {
  return Json{{"keys", Json(keys)}}.dump();
}

// PEM SubjectPublicKeyInfo of `key` (the "secret" of the classic HS256 confusion attack).
inline std::string publicKeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

// Signs `input` with `key`: RS256 (PKCS#1 v1.5) for RSA, ES256 raw R||S for EC.
inline std::string signRaw(EVP_PKEY* key, const std::string& input) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(md, nullptr, &len, in, input.size()) != 1) {
    throw std::runtime_error("EVP_DigestSign");
  }
  std::string sig(len, '\0');
  EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
  sig.resize(len);
  EVP_MD_CTX_free(md);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return sig;
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

inline std::string signingInput(const Json& header, const Json& claims) {
  return base64UrlEncode(header.dump()) + "." + base64UrlEncode(claims.dump());
}

// A compact JWS of `claims` with header {alg, kid (when non-empty), typ JWT} signed by `key`.
// `alg` is written as given, so tests can lie about it.
inline std::string mintJwt(EVP_PKEY* key, const std::string& alg, const std::string& kid,
                           const Json& claims) {
  Json header = {{"alg", alg}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  std::string input = signingInput(header, claims);
  return input + "." + base64UrlEncode(signRaw(key, input));
}

// HS256 over header/claims with `secret` as the HMAC key.
inline std::string mintHs256(const std::string& secret, const std::string& kid,
                             const Json& claims) {
  Json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  std::string input = signingInput(header, claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64UrlEncode(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace tollgate::testing
