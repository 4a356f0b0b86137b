// Transport: TCP connection with optional TLS layered through memory BIOs.
#include "sidecar/network/transport.h"

#include "sidecar/tls/session.h"

namespace tollgate::sidecar {

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

void Transport::startTls(std::unique_ptr<tls::Session> session) {
  tls_ = std::move(session);
  tls_ready_reported_ = false;
  flushTls();
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
  if (!scratch_.empty()) conn_->write(std::move(scratch_));
  scratch_ = std::string();
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
  std::string plain;
  tls_->takePlaintext(plain);
  if (!plain.empty()) callbacks_->onTransportData(plain);
}

void Transport::onClosed(std::string_view reason) { callbacks_->onTransportClosed(reason); }

void Transport::onWriteBufferPressure(bool above_high) {
  callbacks_->onTransportPressure(above_high);
}

}  // namespace tollgate::sidecar
