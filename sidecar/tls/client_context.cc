// Builds the SSL_CTX for upstream TLS: protocol floor, trust anchors, optional client cert.
#include "sidecar/tls/client_context.h"

#include <openssl/err.h>

namespace tollgate::sidecar::tls {

absl::StatusOr<std::shared_ptr<ClientContext>> ClientContext::create(const ClientOptions& options) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new failed: " + takeOpenSslErrors());
  // PCI DSS 4.2.1: never negotiate below TLS 1.2, whatever the mode.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // A retried SSL_write may come from a different address (our pending buffer can move).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  if (options.verify == ClientOptions::Verify::kRequire) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (options.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        return absl::InternalError("cannot load the system trust store: " + takeOpenSslErrors());
      }
    } else if (auto regular = regularFile(options.ca_file); !regular.ok()) {
      return absl::InvalidArgumentError("cannot load CA file: " + std::string(regular.message()));
    } else if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError("cannot load CA file " + options.ca_file + ": " +
                                        takeOpenSslErrors());
    }
  }

  if (options.client_cert_file.empty() != options.client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "client_cert_file and client_key_file must be given together");
  }
  if (!options.client_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.client_cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError("cannot load client certificate " +
                                        options.client_cert_file + ": " + takeOpenSslErrors());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), options.client_key_file.c_str(), SSL_FILETYPE_PEM) !=
        1) {
      return absl::InvalidArgumentError("cannot load client key " + options.client_key_file + ": " +
                                        takeOpenSslErrors());
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      return absl::InvalidArgumentError("client key " + options.client_key_file +
                                        " does not match " + options.client_cert_file);
    }
  }
  return std::shared_ptr<ClientContext>(new ClientContext(options, std::move(ctx)));
}

absl::StatusOr<ClientOptions::Verify> parseVerifyMode(const std::string& text) {
  if (text == "require") return ClientOptions::Verify::kRequire;
  if (text == "verify-ca") return ClientOptions::Verify::kVerifyCa;
  if (text == "verify-full") return ClientOptions::Verify::kVerifyFull;
  return absl::InvalidArgumentError("unknown TLS mode \"" + text +
                                    "\" (want require, verify-ca or verify-full)");
}

std::string verifyModeName(ClientOptions::Verify mode) {
  switch (mode) {
    case ClientOptions::Verify::kRequire:
      return "require";
    case ClientOptions::Verify::kVerifyCa:
      return "verify-ca";
    case ClientOptions::Verify::kVerifyFull:
      return "verify-full";
  }
  return "unknown";
}

}  // namespace tollgate::sidecar::tls
