// The memory-BIO TLS state machine: handshake, queued writes, reads, close_notify, errors.
#include "sidecar/tls/session.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>

#include "sidecar/tls/server_name.h"

namespace tollgate::sidecar::tls {

namespace {

constexpr size_t kReadChunk = 16 * 1024;

BIO* newMemBio() {
  BIO* bio = BIO_new(BIO_s_mem());
  // An empty buffer means "no data yet" (retry), never EOF.
  if (bio != nullptr) BIO_set_mem_eof_return(bio, -1);
  return bio;
}

bool isVerifyFailure(unsigned long code) {
  return ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

// Empties this thread's OpenSSL error queue, as SSL_get_error() requires before each call.
// ERR_clear_error() walks all of the queue's slots every time, a few hundred instructions
// that showed up per query; the queue is almost always empty already.
void clearErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

Session::Session(SslPtr ssl, std::string peer_label, bool is_client)
    : ssl_(std::move(ssl)), peer_label_(std::move(peer_label)), is_client_(is_client) {
  rbio_ = newMemBio();
  wbio_ = newMemBio();
  if (rbio_ == nullptr || wbio_ == nullptr) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    status_ = absl::ResourceExhaustedError("cannot allocate TLS buffers");
    return;
  }
  SSL_set_bio(ssl_.get(), rbio_, wbio_);
  SSL_set_app_data(ssl_.get(), static_cast<ServerNameHook*>(this));
  if (is_client_) {
    SSL_set_connect_state(ssl_.get());
  } else {
    SSL_set_accept_state(ssl_.get());
  }
}

Session::~Session() = default;

absl::StatusOr<std::unique_ptr<Session>> Session::client(ClientContextPtr context,
                                                         const std::string& server_name) {
  if (!context) return absl::InvalidArgumentError("no client TLS context");
  const ClientOptions& options = context->options();
  const std::string name = server_name.empty() ? options.server_name : server_name;
  const bool full = options.verify == ClientOptions::Verify::kVerifyFull;
  ERR_clear_error();
  SslPtr ssl(SSL_new(context->raw()));
  if (!ssl) return absl::InternalError("SSL_new failed: " + takeOpenSslErrors());
  if (name.empty() && full) {
    return absl::InvalidArgumentError("verify-full needs a server name to check");
  }
  if (!name.empty()) {
    auto parsed = parseServerName(name);
    if (!parsed.ok()) {
      if (full) return parsed.status();
    } else {
      if (!parsed->isIp() && SSL_set_tlsext_host_name(ssl.get(), parsed->text.c_str()) != 1) {
        return absl::InternalError("cannot set SNI: " + takeOpenSslErrors());
      }
      if (full) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = parsed->isIp() ? X509_VERIFY_PARAM_set1_ip_asc(param, parsed->text.c_str())
                                : X509_VERIFY_PARAM_set1_host(param, parsed->text.c_str(), 0);
        if (ok != 1)
          return absl::InternalError("cannot set name to verify: " + takeOpenSslErrors());
      }
    }
  }
  std::unique_ptr<Session> session(new Session(std::move(ssl), name.empty() ? "server" : name,
                                               /*is_client=*/true));
  if (!session->status_.ok()) return session->status_;
  session->client_context_ = std::move(context);
  // Produce the ClientHello now so takeCiphertext() has it.
  absl::Status status = session->advance();
  if (!status.ok()) return status;
  return session;
}

absl::StatusOr<std::unique_ptr<Session>> Session::server(ServerContextPtr context,
                                                         SniResolver resolver) {
  if (!context) return absl::InvalidArgumentError("no server TLS context");
  ERR_clear_error();
  SslPtr ssl(SSL_new(context->raw()));
  if (!ssl) return absl::InternalError("SSL_new failed: " + takeOpenSslErrors());
  std::unique_ptr<Session> session(new Session(std::move(ssl), "client", /*is_client=*/false));
  if (!session->status_.ok()) return session->status_;
  session->server_context_ = std::move(context);
  session->resolver_ = std::move(resolver);
  return session;
}

int Session::onServerName(SSL* ssl, int* alert) {
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (sni == nullptr || !resolver_) return SSL_TLSEXT_ERR_NOACK;
  auto chosen = resolver_(sni);
  if (!chosen.ok() || !*chosen) {
    status_ = absl::UnavailableError(
        "TLS handshake with client failed: no certificate for requested name \"" +
        std::string(sni) + "\"" +
        (chosen.ok() ? "" : ": " + std::string(chosen.status().message())));
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (SSL_set_SSL_CTX(ssl, (*chosen)->raw()) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  sni_context_ = std::move(*chosen);
  return SSL_TLSEXT_ERR_OK;
}

absl::Status Session::feedCiphertext(std::string_view data) {
  if (!status_.ok()) return status_;
  size_t offset = 0;
  while (offset < data.size()) {
    int chunk = static_cast<int>(std::min<size_t>(data.size() - offset, INT_MAX));
    int written = BIO_write(rbio_, data.data() + offset, chunk);
    if (written <= 0) {
      status_ = absl::ResourceExhaustedError("cannot buffer TLS input");
      return status_;
    }
    offset += static_cast<size_t>(written);
  }
  return advance();
}

absl::Status Session::advance() {
  if (!status_.ok()) return status_;
  if (!handshake_done_) {
    clearErrors();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc != 1) {
      int err = SSL_get_error(ssl_.get(), rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return absl::OkStatus();
      return fail(err, /*in_handshake=*/true);
    }
    handshake_done_ = true;
  }
  if (absl::Status s = readAll(); !s.ok()) return s;
  if (absl::Status s = flushWrites(); !s.ok()) return s;
  maybeSendCloseNotify();
  return absl::OkStatus();
}

absl::Status Session::readAll() {
  char buf[kReadChunk];
  while (!peer_closed_) {
    clearErrors();
    int n = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (n > 0) {
      plaintext_.append(buf, static_cast<size_t>(n));
      // Nothing left to decrypt, in OpenSSL or in the input buffer: asking again would only
      // be told to wait.
      if (SSL_has_pending(ssl_.get()) == 0 && BIO_ctrl_pending(rbio_) == 0) break;
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    return fail(err, /*in_handshake=*/false);
  }
  return absl::OkStatus();
}

absl::Status Session::flushWrites() {
  while (!pending_write_.empty()) {
    clearErrors();
    int chunk = static_cast<int>(std::min<size_t>(pending_write_.size(), INT_MAX));
    int n = SSL_write(ssl_.get(), pending_write_.data(), chunk);
    if (n > 0) {
      pending_write_.erase(0, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    return fail(err, /*in_handshake=*/false);
  }
  return absl::OkStatus();
}

void Session::maybeSendCloseNotify() {
  if (!shutdown_requested_ || shutdown_sent_ || !handshake_done_ || !pending_write_.empty() ||
      !status_.ok()) {
    return;
  }
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // 0: sent, peer's not yet seen; 1: both done. Errors: nothing to do.
  ERR_clear_error();
  shutdown_sent_ = true;
}

absl::Status Session::fail(int ssl_error, bool in_handshake) {
  if (!status_.ok()) return status_;  // e.g. the SNI hook already said why
  const std::string prefix = in_handshake ? "TLS handshake with " + peer_label_ + " failed: "
                                          : "TLS error with " + peer_label_ + ": ";
  const bool verify_failed =
      isVerifyFailure(ERR_peek_error()) || isVerifyFailure(ERR_peek_last_error());
  std::string reason;
  if (ssl_error == SSL_ERROR_SSL || ssl_error == SSL_ERROR_SYSCALL) {
    reason = takeOpenSslErrors(ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of stream"
                                                              : "protocol error");
  } else {
    reason = "unexpected SSL error " + std::to_string(ssl_error);
    ERR_clear_error();
  }
  if (reason.find("unsupported protocol") != std::string::npos ||
      reason.find("alert protocol version") != std::string::npos) {
    reason += " (TLS 1.2 or newer is required)";
  }
  if (verify_failed) {
    long result = SSL_get_verify_result(ssl_.get());
    reason = std::string("certificate verify failed: ") +
             (result != X509_V_OK ? X509_verify_cert_error_string(result) : reason.c_str());
    status_ = absl::UnauthenticatedError(prefix + reason);
  } else {
    status_ = absl::UnavailableError(prefix + reason);
  }
  return status_;
}

void Session::takePlaintext(std::string& out) {
  if (out.empty()) {
    out.swap(plaintext_);
  } else {
    out.append(plaintext_);
  }
  plaintext_.clear();
}

absl::Status Session::writePlaintext(std::string_view data) {
  if (!status_.ok()) return status_;
  if (shutdown_requested_) {
    return absl::FailedPreconditionError("TLS write after shutdown");
  }
  pending_write_.append(data.data(), data.size());
  if (!handshake_done_) return absl::OkStatus();
  return flushWrites();
}

void Session::takeCiphertext(std::string& out) {
  if (wbio_ == nullptr) return;
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return;
  size_t old = out.size();
  out.resize(old + pending);
  int n = BIO_read(wbio_, out.data() + old, static_cast<int>(std::min<size_t>(pending, INT_MAX)));
  out.resize(old + static_cast<size_t>(std::max(n, 0)));
}

size_t Session::pendingCiphertextBytes() const {
  return wbio_ == nullptr ? 0 : BIO_ctrl_pending(wbio_);
}

void Session::shutdown() {
  shutdown_requested_ = true;
  maybeSendCloseNotify();
}

std::string Session::protocolVersion() const {
  return handshake_done_ ? SSL_get_version(ssl_.get()) : "";
}

std::string Session::cipherName() const {
  const char* name = handshake_done_ ? SSL_get_cipher_name(ssl_.get()) : nullptr;
  return name != nullptr ? name : "";
}

std::string Session::peerSubject() const {
  return subjectOneLine(SSL_get0_peer_certificate(ssl_.get()));
}

std::string Session::requestedServerName() const {
  const char* sni = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return sni != nullptr ? sni : "";
}

}  // namespace tollgate::sidecar::tls
