// Transport: TCP connection with optional TLS layered through memory BIOs.
#include "sidecar/network/transport.h"

#include <utility>

#include "sidecar/tls/session.h"

namespace tollgate::sidecar {
namespace {

// Buffers above this are released after use, so idle connections stay small.
constexpr size_t kKeepBufferBytes = 32 * 1024;

}  // namespace

Transport::~Transport() = default;

absl::Status Transport::adopt(uv_loop_t* loop, int fd) {
  auto conn = TcpConnection::adopt(loop, fd, this);
  if (!conn.ok()) return conn.status();
  conn_ = *std::move(conn);
  return absl::OkStatus();
}

void Transport::connect(uv_loop_t* loop, const SocketAddress& address) {
  conn_ = TcpConnection::connect(loop, address, this);
}

void Transport::connect(uv_loop_t* loop, std::vector<SocketAddress> addresses) {
  conn_ = TcpConnection::connect(loop, std::move(addresses), this);
}

void Transport::startTls(std::unique_ptr<tls::Session> session) {
  if (conn_) conn_->allowHalfClose(false);
  tls_ = std::move(session);
  tls_ready_reported_ = false;
  flushTls();
}

void Transport::allowHalfClose() {
  if (conn_ && !tls_) conn_->allowHalfClose(true);
}

std::string Transport::tlsVersion() const { return tls_ ? tls_->protocolVersion() : ""; }

void Transport::write(std::string_view plaintext) {
  if (!conn_) return;
  if (!tls_) {
    conn_->write(plaintext);
    return;
  }
  (void)tls_->writePlaintext(plaintext);
  flushTls();
}

void Transport::readDisable(bool disable) {
  if (conn_) conn_->readDisable(disable);
}

size_t Transport::pendingWriteBytes() const {
  size_t n = conn_ ? conn_->pendingWriteBytes() : 0;
  return n + (tls_ ? tls_->pendingCiphertextBytes() : 0);
}

void Transport::closeAfterFlush() {
  if (!conn_) return;
  if (tls_ && !tls_->failed()) {
    tls_->shutdown();
    flushTls();
  }
  conn_->closeAfterFlush();
}

void Transport::abort() {
  if (conn_) conn_->abort();
}

void Transport::flushTls() {
  scratch_.clear();
  tls_->takeCiphertext(scratch_);
  // The connection copies only what the socket did not take at once, so the buffer is reused.
  if (!scratch_.empty()) conn_->write(std::string_view(scratch_));
  scratch_.clear();
  if (scratch_.capacity() > kKeepBufferBytes) std::string().swap(scratch_);
}

void Transport::onConnected(const absl::Status& status) {
  callbacks_->onTransportConnected(status);
}

void Transport::onData(std::string_view data) {
  if (!tls_) {
    callbacks_->onTransportData(data);
    return;
  }
  absl::Status st = tls_->feedCiphertext(data);
  flushTls();
  if (!st.ok()) {
    if (!tls_ready_reported_) {
      tls_ready_reported_ = true;
      callbacks_->onTransportTlsReady(st);
    }
    conn_->closeAfterFlush();
    return;
  }
  if (!tls_ready_reported_ && tls_->handshakeDone()) {
    tls_ready_reported_ = true;
    callbacks_->onTransportTlsReady(absl::OkStatus());
  }
  // takePlaintext() swaps buffers with an empty `plain_`, so the two capacities take turns and
  // a steady stream of records allocates nothing.
  plain_.clear();
  tls_->takePlaintext(plain_);
  if (!plain_.empty()) callbacks_->onTransportData(plain_);
  plain_.clear();
  if (plain_.capacity() > kKeepBufferBytes) std::string().swap(plain_);
  // A close_notify ends the peer's stream as a FIN does (PostgreSQL ends the session on it):
  // answered with ours, then the connection closes and the session sees it closed.
  if (tls_ && tls_->peerClosed() && !std::exchange(peer_close_notified_, true)) closeAfterFlush();
}

void Transport::onClosed(std::string_view reason) { callbacks_->onTransportClosed(reason); }

void Transport::onPeerFinished() { callbacks_->onTransportPeerFinished(); }

void Transport::onWriteBufferPressure(bool above_high) {
  callbacks_->onTransportPressure(above_high);
}

}  // namespace tollgate::sidecar
