// One TLS connection driven through memory buffers: ciphertext in/out, plaintext in/out.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/tls/client_context.h"
#include "sidecar/tls/openssl_util.h"
#include "sidecar/tls/server_context.h"

namespace tollgate::sidecar::tls {

// A TLS connection with no socket inside (OpenSSL over a pair of memory BIOs), so any event
// loop can drive it. The owner:
//   - passes every byte read from the network to feedCiphertext(), then
//   - collects decrypted bytes with takePlaintext() and
//   - sends whatever takeCiphertext() returns (handshake records, alerts, data, close_notify).
// Call takeCiphertext() after every other call: any of them may produce bytes to send (the
// client's ClientHello is ready right after client()). Plaintext written before the handshake
// completes is queued and encrypted once it does.
//
// Not thread-safe: a session belongs to one worker loop. Buffers are unbounded; the owner
// applies back-pressure (stop reading from one side while the other has much pending).
//
// Errors: the first fatal error (handshake failure, bad record, peer alert) is kept; every
// later feed/write returns it, and takeCiphertext() still yields the alert to send. Codes:
// Unauthenticated when the peer certificate failed verification ("certificate verify failed:
// certificate has expired" / "hostname mismatch" / "unable to get local issuer certificate"),
// Unavailable for other TLS failures ("unsupported protocol", "tlsv1 alert unknown ca", ...).
// Messages start with "TLS handshake with <peer> failed: " or "TLS error with <peer>: ".
class Session : private ServerNameHook {
 public:
  // Picks the server identity from the SNI name a client sent (e.g. a CertificateAuthority's
  // serverContextFor). An error aborts the handshake with an unrecognized_name alert.
  using SniResolver = std::function<absl::StatusOr<ServerContextPtr>(const std::string& sni)>;

  // Client side. `server_name` (or, when empty, the context's options().server_name) is sent
  // as SNI when it is a DNS name, and checked against the certificate in verify-full (DNS
  // names against DNS SANs, IP literals against IP SANs). InvalidArgument when verify-full
  // has no usable name.
  static absl::StatusOr<std::unique_ptr<Session>> client(ClientContextPtr context,
                                                         const std::string& server_name = "");
  // Server side presenting `context`'s certificate, or, when `resolver` is set and the client
  // sends SNI, the one the resolver returns. Clients without SNI get `context`.
  static absl::StatusOr<std::unique_ptr<Session>> server(ServerContextPtr context,
                                                         SniResolver resolver = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Bytes from the network, in order; any split is fine. Runs the handshake, flushes queued
  // plaintext once it completes, and decrypts what it can.
  absl::Status feedCiphertext(std::string_view data);
  // Appends the plaintext decrypted so far to `out` and forgets it.
  void takePlaintext(std::string& out);
  // Queues plaintext to encrypt (at once when the handshake is done). FailedPrecondition after
  // shutdown().
  absl::Status writePlaintext(std::string_view data);
  // Appends the ciphertext ready to send to `out` and forgets it.
  void takeCiphertext(std::string& out);
  size_t pendingCiphertextBytes() const;

  // Queues close_notify (after any queued plaintext; after the handshake if it is still
  // running). Idempotent. Does not wait for the peer's close_notify.
  void shutdown();
  // The peer sent close_notify. A transport EOF while this is false means the stream was
  // truncated and must not be trusted as complete.
  bool peerClosed() const { return peer_closed_; }

  bool handshakeDone() const { return handshake_done_; }
  bool failed() const { return !status_.ok(); }
  const absl::Status& status() const { return status_; }
  // "TLSv1.3", "TLSv1.2" after the handshake; "" before.
  std::string protocolVersion() const;
  std::string cipherName() const;
  // RFC 2253 subject of the peer certificate ("" when none, e.g. a client without one).
  std::string peerSubject() const;
  // Server side: the SNI name the client sent ("" when none).
  std::string requestedServerName() const;

 private:
  Session(SslPtr ssl, std::string peer_label, bool is_client);
  absl::Status advance();
  absl::Status flushWrites();
  absl::Status readAll();
  absl::Status fail(int ssl_error, bool in_handshake);
  void maybeSendCloseNotify();

  // ServerNameHook:
  int onServerName(SSL* ssl, int* alert) override;

  SslPtr ssl_;
  BIO* rbio_ = nullptr;  // network -> OpenSSL; owned by ssl_
  BIO* wbio_ = nullptr;  // OpenSSL -> network; owned by ssl_
  std::string peer_label_;
  bool is_client_;
  ClientContextPtr client_context_;  // kept alive for ssl_
  ServerContextPtr server_context_;  // kept alive for ssl_
  ServerContextPtr sni_context_;     // the context SNI switched to, if any
  SniResolver resolver_;
  std::string pending_write_;
  std::string plaintext_;
  absl::Status status_;
  bool handshake_done_ = false;
  bool shutdown_requested_ = false;
  bool shutdown_sent_ = false;
  bool peer_closed_ = false;
};
using SessionPtr = std::unique_ptr<Session>;

}  // namespace tollgate::sidecar::tls
