// Server-side SSL_CTX construction for terminating TLS from clients.
#include "sidecar/tls/server_context.h"

#include <openssl/err.h>

namespace tollgate::sidecar::tls {

namespace {

std::chrono::system_clock::time_point notAfterOf(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return {};
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

int onServerName(SSL* ssl, int* alert, void* /*arg*/) {
  auto* hook = static_cast<ServerNameHook*>(SSL_get_app_data(ssl));
  return hook != nullptr ? hook->onServerName(ssl, alert) : SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

ServerContext::ServerContext(SslCtxPtr ctx)
    : ctx_(std::move(ctx)), not_after_(notAfterOf(ctx_.get())) {
  SSL_CTX_set_tlsext_servername_callback(ctx_.get(), onServerName);
}

absl::StatusOr<SslCtxPtr> ServerContext::newServerCtx() {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new failed: " + takeOpenSslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

absl::StatusOr<std::shared_ptr<ServerContext>> ServerContext::fromFiles(
    const std::string& cert_file, const std::string& key_file) {
  auto ctx = newServerCtx();
  if (!ctx.ok()) return ctx.status();
  if (SSL_CTX_use_certificate_chain_file(ctx->get(), cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError("cannot load certificate " + cert_file + ": " +
                                      takeOpenSslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx->get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError("cannot load key " + key_file + ": " + takeOpenSslErrors());
  }
  if (SSL_CTX_check_private_key(ctx->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("key " + key_file + " does not match " + cert_file);
  }
  return std::shared_ptr<ServerContext>(new ServerContext(std::move(*ctx)));
}

absl::StatusOr<std::shared_ptr<ServerContext>> ServerContext::fromObjects(X509* cert, EVP_PKEY* key,
                                                                          X509* chain) {
  auto ctx = newServerCtx();
  if (!ctx.ok()) return ctx.status();
  if (SSL_CTX_use_certificate(ctx->get(), cert) != 1 ||
      SSL_CTX_use_PrivateKey(ctx->get(), key) != 1 ||
      (chain != nullptr && SSL_CTX_add1_chain_cert(ctx->get(), chain) != 1)) {
    return absl::InternalError("cannot install certificate: " + takeOpenSslErrors());
  }
  if (SSL_CTX_check_private_key(ctx->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("private key does not match the certificate");
  }
  return std::shared_ptr<ServerContext>(new ServerContext(std::move(*ctx)));
}

std::shared_ptr<ServerContext> ServerContext::adopt(SSL_CTX* ctx) {
  return std::shared_ptr<ServerContext>(new ServerContext(SslCtxPtr(ctx)));
}

}  // namespace tollgate::sidecar::tls
