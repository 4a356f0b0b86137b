// A plaintext byte stream to one peer: a TCP connection, optionally with TLS layered on top.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "sidecar/network/connection.h"
#include "sidecar/tls/session.h"

namespace tollgate::sidecar {

// What a transport tells its owner, on the owner's loop.
class TransportCallbacks {
 public:
  virtual ~TransportCallbacks() = default;
  virtual void onTransportConnected(const absl::Status& status) { (void)status; }
  // Plaintext arrived (decrypted when TLS is on). Valid only during the call.
  virtual void onTransportData(std::string_view data) = 0;
  // The TLS handshake started by startTls() finished (OK) or failed (the transport is then
  // closed and onTransportClosed follows).
  virtual void onTransportTlsReady(const absl::Status& status) { (void)status; }
  virtual void onTransportClosed(std::string_view reason) = 0;
  // After allowHalfClose(): the peer sent FIN and may still read what is written.
  virtual void onTransportPeerFinished() {}
  virtual void onTransportPressure(bool above_high) { (void)above_high; }
};

// Single-threaded, on one loop. Writes made before a TLS handshake completes are queued by the
// TLS session and sent after it.
class Transport : private ConnectionCallbacks {
 public:
  explicit Transport(TransportCallbacks* callbacks) : callbacks_(callbacks) {}
  ~Transport() override;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  absl::Status adopt(uv_loop_t* loop, int fd);
  void connect(uv_loop_t* loop, const SocketAddress& address);
  // Tries `addresses` in order (TcpConnection::connect); onTransportConnected reports once.
  void connect(uv_loop_t* loop, std::vector<SocketAddress> addresses);
  // The address connected to (or being tried); empty before connect().
  SocketAddress remote() const { return conn_ ? conn_->remote() : SocketAddress{}; }

  // Layers TLS over the connection from now on. For a client session the handshake starts at
  // once; for a server session it starts with the peer's ClientHello.
  void startTls(std::unique_ptr<tls::Session> session);
  // The peer's FIN is reported by onTransportPeerFinished() and the transport stays open for
  // writing. Plaintext only: under TLS (from startTls() on) a FIN closes the transport, since a
  // TLS stream ends with close_notify, which closes it too.
  void allowHalfClose();
  bool tlsActive() const { return tls_ != nullptr; }
  std::string tlsVersion() const;

  void write(std::string_view plaintext);
  void readDisable(bool disable);
  size_t pendingWriteBytes() const;
  // Sends close_notify (TLS) and closes after queued bytes are written; onTransportClosed
  // reports the end.
  void closeAfterFlush();
  // Closes at once; no further callbacks.
  void abort();
  bool open() const { return conn_ != nullptr && conn_->open(); }
  // True when there is no socket left (never opened, failed, or fully closed).
  bool closed() const { return conn_ == nullptr || conn_->closed(); }

 private:
  // ConnectionCallbacks
  void onConnected(const absl::Status& status) override;
  void onData(std::string_view data) override;
  void onClosed(std::string_view reason) override;
  void onPeerFinished() override;
  void onWriteBufferPressure(bool above_high) override;

  void flushTls();

  TransportCallbacks* callbacks_;
  TcpConnectionPtr conn_;
  std::unique_ptr<tls::Session> tls_;
  bool tls_ready_reported_ = false;
  bool peer_close_notified_ = false;  // the TLS peer's close_notify was answered
  std::string scratch_;               // ciphertext on its way to the socket
  std::string plain_;                 // decrypted bytes on their way to the owner
};

}  // namespace tollgate::sidecar
