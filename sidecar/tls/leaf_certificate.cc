// X.509 construction for minted leaf certificates, with the OpenSSL 3 APIs.
#include "sidecar/tls/leaf_certificate.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

namespace tollgate::sidecar::tls {

namespace {

using std::chrono::system_clock;

bool setTime(ASN1_TIME* field, system_clock::time_point when) {
  return ASN1_TIME_set(field, system_clock::to_time_t(when)) != nullptr;
}

bool setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // never shorter than 16 bytes, never zero
  BIGNUM* bn = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  if (bn == nullptr) return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

// subjectAltName built from objects (not from a config string), so no name can smuggle in
// extra entries.
bool addSubjectAltName(X509* cert, const ServerName& name) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* entry = GENERAL_NAME_new();
  bool ok = names != nullptr && entry != nullptr;
  if (ok && name.isIp()) {
    unsigned char buf[16];
    int len = 0;
    if (inet_pton(AF_INET, name.text.c_str(), buf) == 1)
      len = 4;
    else if (inet_pton(AF_INET6, name.text.c_str(), buf) == 1)
      len = 16;
    ASN1_OCTET_STRING* ip = ASN1_OCTET_STRING_new();
    ok = len != 0 && ip != nullptr && ASN1_OCTET_STRING_set(ip, buf, len) == 1;
    if (ok)
      GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
    else
      ASN1_OCTET_STRING_free(ip);
  } else if (ok) {
    ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
    ok = dns != nullptr &&
         ASN1_STRING_set(dns, name.text.data(), static_cast<int>(name.text.size())) == 1;
    if (ok)
      GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
    else
      ASN1_IA5STRING_free(dns);
  }
  if (ok) {
    ok = sk_GENERAL_NAME_push(names, entry) > 0;
    if (ok) entry = nullptr;  // now owned by names
  }
  ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAME_free(entry);
  GENERAL_NAMES_free(names);
  return ok;
}

bool addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

absl::StatusOr<PkeyPtr> newLeafKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError("EC key generation failed: " + takeOpenSslErrors());
  return key;
}

absl::StatusOr<X509Ptr> mintLeafCertificate(const LeafRequest& request, X509* ca_cert,
                                            EVP_PKEY* ca_key, EVP_PKEY* leaf_key) {
  ERR_clear_error();
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError("X509_new failed");
  X509* x = cert.get();
  bool ok = X509_set_version(x, X509_VERSION_3) == 1 && setRandomSerial(x) &&
            X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) == 1 &&
            setTime(X509_getm_notBefore(x), request.not_before) &&
            setTime(X509_getm_notAfter(x), request.not_after) && X509_set_pubkey(x, leaf_key) == 1;
  // A CN is limited to 64 characters; longer names live in subjectAltName only (which is what
  // clients check anyway).
  X509_NAME* subject = X509_get_subject_name(x);
  if (ok && request.name.text.size() <= 64) {
    ok = X509_NAME_add_entry_by_txt(
             subject, "CN", MBSTRING_ASC,
             reinterpret_cast<const unsigned char*>(request.name.text.c_str()), -1, -1, 0) == 1;
  }
  ok = ok && X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>("Tollgate sidecar"),
                                        -1, -1, 0) == 1;
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, ca_cert, x, nullptr, nullptr, 0);
  ok = ok && addExtension(x, &v3, NID_basic_constraints, "critical,CA:FALSE") &&
       addExtension(x, &v3, NID_key_usage, "critical,digitalSignature") &&
       addExtension(x, &v3, NID_ext_key_usage, "serverAuth") &&
       addExtension(x, &v3, NID_subject_key_identifier, "hash") &&
       addExtension(x, &v3, NID_authority_key_identifier, "keyid:always") &&
       addSubjectAltName(x, request.name);
  if (!ok) return absl::InternalError("cannot build certificate: " + takeOpenSslErrors());
  // EdDSA keys sign without a separate digest.
  int key_type = EVP_PKEY_get_base_id(ca_key);
  const EVP_MD* md =
      key_type == EVP_PKEY_ED25519 || key_type == EVP_PKEY_ED448 ? nullptr : EVP_sha256();
  if (X509_sign(x, ca_key, md) <= 0) {
    return absl::InternalError("cannot sign certificate: " + takeOpenSslErrors());
  }
  return cert;
}

}  // namespace tollgate::sidecar::tls
