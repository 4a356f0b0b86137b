// Configuration for TLS the sidecar originates to upstream servers (verify-full by default).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sidecar/tls/openssl_util.h"

namespace tollgate::sidecar::tls {

struct ClientOptions {
  enum class Verify {
    kRequire,     // Encrypt only; any certificate is accepted. Discouraged: no protection
                  // against an active attacker. Kept for parity with libpq's sslmode=require.
    kVerifyCa,    // The chain must lead to a trusted CA; the name is not checked.
    kVerifyFull,  // Chain and name (DNS name or IP address in subjectAltName). The default.
  };
  Verify verify = Verify::kVerifyFull;
  // PEM bundle of trusted CAs. Empty means the system trust store (verify modes only).
  std::string ca_file;
  // Default host name or IP to verify against and to send as SNI (DNS names only); a
  // session may override it. Required in verify-full unless every session passes one.
  std::string server_name;
  // Optional client certificate (PEM, may hold a chain) and its key, for upstreams that want
  // mutual TLS. Both or neither.
  std::string client_cert_file;
  std::string client_key_file;
};

// Immutable after create(); shared by every worker loop (creating SSL objects from one SSL_CTX
// is thread-safe). Always TLS 1.2 or newer: TLS 1.0/1.1 servers are refused in every mode.
class ClientContext {
 public:
  // Fails with InvalidArgument / NotFound naming the file or option that is wrong.
  static absl::StatusOr<std::shared_ptr<ClientContext>> create(const ClientOptions& options);

  const ClientOptions& options() const { return options_; }
  // Borrowed; lives as long as this object.
  SSL_CTX* raw() const { return ctx_.get(); }

 private:
  ClientContext(ClientOptions options, SslCtxPtr ctx)
      : options_(std::move(options)), ctx_(std::move(ctx)) {}

  ClientOptions options_;
  SslCtxPtr ctx_;
};
using ClientContextPtr = std::shared_ptr<const ClientContext>;

// "require" / "verify-ca" / "verify-full" (libpq spelling) to Verify; InvalidArgument otherwise.
absl::StatusOr<ClientOptions::Verify> parseVerifyMode(const std::string& text);
std::string verifyModeName(ClientOptions::Verify mode);

}  // namespace tollgate::sidecar::tls
