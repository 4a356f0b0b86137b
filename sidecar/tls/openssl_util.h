// Owning smart pointers for OpenSSL objects and the error-queue-to-text helper the TLS layer uses.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate::sidecar::tls {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Empties this thread's OpenSSL error queue and returns the reasons, oldest first, joined by
// "; " (e.g. "unsupported protocol"). Returns `fallback` when the queue was empty.
std::string takeOpenSslErrors(const std::string& fallback = "unknown OpenSSL error");

// OK when `path` is a regular file (stat follows symlinks); a FIFO or a device would block
// whoever reads it. Errors name the file.
absl::Status regularFile(const std::string& path);

// Reads a PEM file holding one certificate / one private key. Errors name the file.
absl::StatusOr<X509Ptr> readCertificateFile(const std::string& path);
absl::StatusOr<PkeyPtr> readPrivateKeyFile(const std::string& path);

// The certificate's subject as a one-line RFC 2253 string ("CN=payments-db.test,O=...").
std::string subjectOneLine(const X509* cert);

}  // namespace tollgate::sidecar::tls
