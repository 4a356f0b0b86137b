// Builds the test PKI with OpenSSL's X.509 APIs (no openssl CLI, no fixed keys in the tree).
#include "tests/support/pki.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace tollgate::testing {

namespace {

constexpr long kHour = 3600;
constexpr long kDay = 24 * kHour;
constexpr const char* kServerSan = "DNS:localhost,IP:127.0.0.1,DNS:payments-db.test";

[[noreturn]] void fail(const std::string& what) {
  char buf[256] = "";
  unsigned long code = ERR_get_error();
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  throw std::runtime_error("test PKI: " + what + (code != 0 ? std::string(": ") + buf : ""));
}

EVP_PKEY* newKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) fail("EC key generation");
  return key;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1) fail(std::string("extension ") + value);
  X509_EXTENSION_free(ext);
}

struct CertSpec {
  std::string cn;
  bool is_ca = false;
  long not_before = -kHour;  // seconds from now
  long not_after = 30 * kDay;
};

// Signs `key`'s certificate with issuer_key; a null issuer means self-signed.
X509* makeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  X509* cert = X509_new();
  if (cert == nullptr) fail("X509_new");
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] = (serial[0] & 0x7f) | 0x40;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_set_version(cert, X509_VERSION_3);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Tollgate tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(signer));
  X509_gmtime_adj(X509_getm_notBefore(cert), spec.not_before);
  X509_gmtime_adj(X509_getm_notAfter(cert), spec.not_after);
  X509_set_pubkey(cert, key);
  if (spec.is_ca) {
    addExt(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
    addExt(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    addExt(cert, signer, NID_subject_key_identifier, "hash");
  } else {
    addExt(cert, signer, NID_basic_constraints, "critical,CA:FALSE");
    addExt(cert, signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    addExt(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth");
    addExt(cert, signer, NID_subject_key_identifier, "hash");
    addExt(cert, signer, NID_authority_key_identifier, "keyid:always");
    addExt(cert, signer, NID_subject_alt_name, kServerSan);
  }
  if (X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0) {
    fail("signing " + spec.cn);
  }
  return cert;
}

std::string writeCert(const std::filesystem::path& dir, const std::string& name, X509* cert) {
  std::string path = (dir / name).string();
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) fail("cannot write " + path);
  bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  if (!ok) fail("PEM_write_X509 " + path);
  return path;
}

std::string writeKey(const std::filesystem::path& dir, const std::string& name, EVP_PKEY* key) {
  std::string path = (dir / name).string();
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) fail("cannot write " + path);
  ::chmod(path.c_str(), 0600);
  bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  if (!ok) fail("PEM_write_PrivateKey " + path);
  return path;
}

// Writes a leaf for `cn` signed by issuer; returns {cert path, key path}.
std::pair<std::string, std::string> writeLeaf(const std::filesystem::path& dir,
                                              const std::string& base, const CertSpec& spec,
                                              X509* issuer, EVP_PKEY* issuer_key) {
  EVP_PKEY* key = newKey();
  X509* cert = makeCert(spec, key, issuer, issuer_key);
  std::pair<std::string, std::string> out{writeCert(dir, base + ".pem", cert),
                                          writeKey(dir, base + "-key.pem", key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace

TestPki writeTestPki(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  TestPki pki;
  EVP_PKEY* ca_key = newKey();
  X509* ca = makeCert({"Tollgate Test CA", true, -kDay, 365 * kDay}, ca_key, nullptr, nullptr);
  pki.ca_cert = writeCert(dir, "ca.pem", ca);
  pki.ca_key = writeKey(dir, "ca-key.pem", ca_key);

  std::tie(pki.server_cert, pki.server_key) = writeLeaf(dir, "server", {"localhost"}, ca, ca_key);
  std::tie(pki.expired_cert, pki.expired_key) =
      writeLeaf(dir, "expired", {"localhost", false, -30 * kDay, -kDay}, ca, ca_key);

  EVP_PKEY* other_key = newKey();
  X509* other = makeCert({"Other Test CA", true, -kDay, 365 * kDay}, other_key, nullptr, nullptr);
  pki.other_ca_cert = writeCert(dir, "other-ca.pem", other);
  pki.other_ca_key = writeKey(dir, "other-ca-key.pem", other_key);
  std::tie(pki.other_server_cert, pki.other_server_key) =
      writeLeaf(dir, "other-server", {"localhost"}, other, other_key);

  X509_free(other);
  EVP_PKEY_free(other_key);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return pki;
}

SSL_CTX* newTestServerCtx(const std::string& cert_file, const std::string& key_file,
                          int min_version, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) fail("SSL_CTX_new");
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    SSL_CTX_free(ctx);
    fail("loading " + cert_file);
  }
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  return ctx;
}

SSL_CTX* newTls11OnlyServerCtx(const std::string& cert_file, const std::string& key_file) {
  SSL_CTX* ctx = newTestServerCtx(cert_file, key_file, TLS1_VERSION, TLS1_1_VERSION);
  SSL_CTX_set_security_level(ctx, 0);
  if (SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0") != 1) {
    SSL_CTX_free(ctx);
    fail("cipher list");
  }
  return ctx;
}

}  // namespace tollgate::testing
