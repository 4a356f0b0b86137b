// A TLS server identity (certificate + key) for terminating client TLS; shared, immutable.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sidecar/tls/openssl_util.h"

namespace tollgate::sidecar::tls {

// Called during a server handshake when the ClientHello carries SNI. A Session installs itself
// as the SSL's app data (SSL_set_app_data) to receive it; return an SSL_TLSEXT_ERR_* code.
class ServerNameHook {
 public:
  virtual int onServerName(SSL* ssl, int* alert) = 0;

 protected:
  virtual ~ServerNameHook() = default;
};

// Wraps an SSL_CTX configured for the server side: TLS 1.2 minimum, no renegotiation.
// Immutable after construction and safe to share across worker loops.
class ServerContext {
 public:
  // From PEM files (the certificate file may hold a chain).
  static absl::StatusOr<std::shared_ptr<ServerContext>> fromFiles(const std::string& cert_file,
                                                                  const std::string& key_file);
  // From in-memory objects; `chain` (may be null) is sent after the leaf.
  static absl::StatusOr<std::shared_ptr<ServerContext>> fromObjects(X509* cert, EVP_PKEY* key,
                                                                    X509* chain);
  // Takes ownership of a fully configured SSL_CTX as is, without applying any policy (tests
  // use it to stand up deliberately weak servers). `ctx` must not be null.
  static std::shared_ptr<ServerContext> adopt(SSL_CTX* ctx);

  // Borrowed; lives as long as this object.
  SSL_CTX* raw() const { return ctx_.get(); }
  // notAfter of the leaf certificate (time_point{} when adopted without a certificate).
  std::chrono::system_clock::time_point notAfter() const { return not_after_; }

 private:
  explicit ServerContext(SslCtxPtr ctx);
  static absl::StatusOr<SslCtxPtr> newServerCtx();

  SslCtxPtr ctx_;
  std::chrono::system_clock::time_point not_after_{};
};
using ServerContextPtr = std::shared_ptr<const ServerContext>;

}  // namespace tollgate::sidecar::tls
