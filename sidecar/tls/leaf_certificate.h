// Mints short-lived leaf server certificates signed by a local CA (for terminating client TLS).
#pragma once

#include <chrono>

#include "absl/status/statusor.h"
#include "sidecar/tls/openssl_util.h"
#include "sidecar/tls/server_name.h"

namespace tollgate::sidecar::tls {

struct LeafRequest {
  ServerName name;  // goes into subjectAltName (DNS or IP) and, when short enough, the CN
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

// A fresh ECDSA P-256 key (never null on success).
absl::StatusOr<PkeyPtr> newLeafKey();

// Builds and signs (SHA-256) an X.509 v3 certificate for `leaf_key`: random 127-bit serial,
// issuer = CA subject, basicConstraints critical CA:FALSE, keyUsage critical
// digitalSignature, extendedKeyUsage serverAuth, subject/authority key identifiers.
// The CA objects are only read; safe to call from several threads at once.
absl::StatusOr<X509Ptr> mintLeafCertificate(const LeafRequest& request, X509* ca_cert,
                                            EVP_PKEY* ca_key, EVP_PKEY* leaf_key);

}  // namespace tollgate::sidecar::tls
