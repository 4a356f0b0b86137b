// TCP connection on a libuv loop. The uv handle outlives this object when a close is in
// flight: its `data` is cleared, and callbacks that find no owner just free memory.
#include "sidecar/network/connection.h"

#include <netinet/tcp.h>

#include <cstring>
#include <memory>

#include "absl/status/statusor.h"

namespace tollgate::sidecar {
namespace {

// One read buffer per thread that reads: onData consumes the bytes before the next read. Allocated
// at the first read, not as a thread_local array: the C library zeroes a thread's static TLS
// when it starts, so a 64 KiB array made every thread of the process (admin, event writer) and
// the main thread touch 64 KiB each; a heap buffer only becomes resident as far as reads fill it.
constexpr size_t kReadBufferSize = 64 * 1024;
thread_local std::unique_ptr<char[]> t_read_buffer;

void freeHandle(uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); }
void freeTimer(uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); }

std::string errorText(int status) {
  if (status == UV_EOF) return "peer closed";
  return uv_strerror(status);
}

}  // namespace

struct TcpConnection::WriteReq {
  uv_write_t req{};
  std::string data;
};

TcpConnection::TcpConnection(uv_loop_t* loop, ConnectionCallbacks* callbacks)
    : loop_(loop), handle_(new uv_tcp_t), callbacks_(callbacks) {
  uv_tcp_init(loop, handle_);
  handle_->data = this;
}

TcpConnection::~TcpConnection() { release(); }

absl::StatusOr<std::unique_ptr<TcpConnection>> TcpConnection::adopt(
    uv_loop_t* loop, int fd, ConnectionCallbacks* callbacks) {
  std::unique_ptr<TcpConnection> c(new TcpConnection(loop, callbacks));
  if (int rc = uv_tcp_open(c->handle_, fd); rc != 0) {
    return absl::InternalError(std::string("uv_tcp_open: ") + uv_strerror(rc));
  }
  uv_tcp_nodelay(c->handle_, 1);
  c->startReading();
  return c;
}

std::unique_ptr<TcpConnection> TcpConnection::connect(uv_loop_t* loop, const SocketAddress& address,
                                                      ConnectionCallbacks* callbacks) {
  return connect(loop, std::vector<SocketAddress>{address}, callbacks);
}

std::unique_ptr<TcpConnection> TcpConnection::connect(uv_loop_t* loop,
                                                      std::vector<SocketAddress> addresses,
                                                      ConnectionCallbacks* callbacks) {
  std::unique_ptr<TcpConnection> c(new TcpConnection(loop, callbacks));
  c->addresses_ = std::move(addresses);
  c->connectNext();
  return c;
}

void TcpConnection::connectNext() {
  while (tried_ < addresses_.size()) {
    const SocketAddress& address = addresses_[tried_++];
    if (handle_ == nullptr) {  // the previous attempt's socket is closed: a fresh one
      handle_ = new uv_tcp_t;
      uv_tcp_init(loop_, handle_);
      handle_->data = this;
      closing_ = false;
    }
    auto* req = new uv_connect_t;
    req->data = handle_;
    int rc = uv_tcp_connect(req, handle_, address.sa(), &TcpConnection::onConnect);
    if (rc == 0) return;
    delete req;
    release();
    connect_errors_ += (connect_errors_.empty() ? "connect to " : "; to ") + address.toString() +
                       ": " + uv_strerror(rc);
  }
  release();
  // May run before connect() returns: the caller gets a closed connection either way.
  callbacks_->onConnected(absl::UnavailableError(
      connect_errors_.empty() ? std::string("connect: no address to connect to")
                              : connect_errors_));
}

const SocketAddress& TcpConnection::remote() const {
  static const SocketAddress kNone;
  if (tried_ == 0 || tried_ > addresses_.size()) return kNone;
  return addresses_[tried_ - 1];
}

int TcpConnection::fd() const {
  uv_os_fd_t fd = -1;
  if (handle_ != nullptr) uv_fileno(reinterpret_cast<const uv_handle_t*>(handle_), &fd);
  return fd;
}

void TcpConnection::onConnect(uv_connect_t* req, int status) {
  auto* handle = static_cast<uv_tcp_t*>(req->data);
  delete req;
  auto* self = static_cast<TcpConnection*>(handle->data);
  if (self == nullptr) return;  // owner went away while connecting
  if (status != 0) {
    self->release();
    // Writes queued while connecting went with this attempt's socket: no other is tried.
    if (self->pending_bytes_ > 0) self->tried_ = self->addresses_.size();
    self->connect_errors_ += (self->connect_errors_.empty() ? "connect to " : "; to ") +
                             self->remote().toString() + " failed: " + uv_strerror(status);
    self->connectNext();
    return;
  }
  uv_tcp_nodelay(handle, 1);
  self->startReading();
  self->callbacks_->onConnected(absl::OkStatus());
}

void TcpConnection::startReading() {
  if (reading_ || read_disable_count_ > 0 || closing_ || peer_finished_) return;
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(handle_), &TcpConnection::onAlloc,
                &TcpConnection::onRead);
}

void TcpConnection::readDisable(bool disable) {
  if (handle_ == nullptr || closing_) return;
  if (disable) {
    if (read_disable_count_++ == 0 && reading_) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(handle_));
      reading_ = false;
    }
  } else if (read_disable_count_ > 0 && --read_disable_count_ == 0) {
    startReading();
  }
}

void TcpConnection::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  if (!t_read_buffer) t_read_buffer = std::make_unique_for_overwrite<char[]>(kReadBufferSize);
  buf->base = t_read_buffer.get();
  buf->len = kReadBufferSize;
}

void TcpConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpConnection*>(stream->data);
  if (self == nullptr) return;
  if (nread > 0) {
    self->callbacks_->onData(std::string_view(buf->base, static_cast<size_t>(nread)));
    return;
  }
  if (nread == UV_EOF && self->half_close_) {
    self->peer_finished_ = true;
    uv_read_stop(stream);
    self->reading_ = false;
    self->callbacks_->onPeerFinished();
    return;
  }
  if (nread < 0) self->fail(errorText(static_cast<int>(nread)));
}

void TcpConnection::write(std::string_view data) {
  if (handle_ == nullptr || closing_ || finish_writes_ || data.empty()) return;
  size_t sent = tryWrite(data);
  if (sent < data.size()) queueWrite(std::string(data.substr(sent)));
}

void TcpConnection::write(std::string&& data) {
  if (handle_ == nullptr || closing_ || finish_writes_ || data.empty()) return;
  size_t sent = tryWrite(data);
  if (sent == data.size()) return;
  data.erase(0, sent);
  queueWrite(std::move(data));
}

size_t TcpConnection::tryWrite(std::string_view data) {
  // Only with nothing queued, so bytes stay in order. A completed uv_write costs a request, a
  // deferred callback and an epoll_ctl (libuv re-arms the watcher when the queue drains); a
  // direct write that takes everything costs the one write(2). Errors (and EAGAIN) fall
  // through to uv_write, which reports them from the loop as before, never from inside write().
  if (pending_bytes_ != 0) return 0;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(handle_), &buf, 1);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void TcpConnection::queueWrite(std::string&& data) {
  auto* w = new WriteReq;
  w->data = std::move(data);
  w->req.data = this;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  pending_bytes_ += w->data.size();
  int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(handle_), &buf, 1, &TcpConnection::onWrite);
  if (rc != 0) {
    pending_bytes_ -= w->data.size();
    delete w;
    fail(errorText(rc));
    return;
  }
  if (!above_high_ && pending_bytes_ > high_watermark_) {
    above_high_ = true;
    callbacks_->onWriteBufferPressure(true);
  }
}

void TcpConnection::onWrite(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  auto* handle = req->handle;
  size_t bytes = w->data.size();
  delete w;
  auto* self = static_cast<TcpConnection*>(handle->data);
  if (self == nullptr) return;
  if (status != 0) {
    self->fail(errorText(status));
    return;
  }
  self->writeDone(bytes);
}

void TcpConnection::writeDone(size_t bytes) {
  pending_bytes_ -= bytes;
  if (above_high_ && pending_bytes_ <= low_watermark_) {
    above_high_ = false;
    callbacks_->onWriteBufferPressure(false);
  }
  if (finish_writes_ && !writes_shut_ && !close_after_flush_ && pending_bytes_ == 0) {
    shutdownWrites();
    return;
  }
  if (close_after_flush_ && pending_bytes_ == 0 && !closing_) {
    closing_ = true;
    auto* req = new uv_shutdown_t;
    req->data = this;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(handle_), &TcpConnection::onShutdown) !=
        0) {
      delete req;
      release();
      callbacks_->onClosed("closed");
    }
  }
}

void TcpConnection::onShutdown(uv_shutdown_t* req, int) {
  auto* handle = req->handle;
  delete req;
  auto* self = static_cast<TcpConnection*>(handle->data);
  if (self == nullptr) return;
  self->release();
  self->callbacks_->onClosed("closed");
}

void TcpConnection::finishWrites() {
  if (handle_ == nullptr || closing_ || close_after_flush_ || finish_writes_) return;
  finish_writes_ = true;
  if (pending_bytes_ == 0) shutdownWrites();
}

void TcpConnection::shutdownWrites() {
  writes_shut_ = true;
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(handle_), &TcpConnection::onWritesFinished) !=
      0) {
    delete req;
    fail("cannot shut down writes");
  }
}

void TcpConnection::onWritesFinished(uv_shutdown_t* req, int status) {
  auto* handle = req->handle;
  delete req;
  auto* self = static_cast<TcpConnection*>(handle->data);
  if (self == nullptr || status == 0) return;
  self->fail(errorText(status));
}

void TcpConnection::closeAfterFlush() {
  if (handle_ == nullptr || closing_ || close_after_flush_) return;
  close_after_flush_ = true;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(handle_));
    reading_ = false;
  }
  if (pending_bytes_ == 0) {
    // Pretend a zero-byte write completed to reuse the shutdown path.
    writeDone(0);
    return;
  }
  close_queue_seen_ = uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(handle_));
  close_timer_ = new uv_timer_t;
  uv_timer_init(handle_->loop, close_timer_);
  close_timer_->data = this;
  uv_timer_start(close_timer_, &TcpConnection::onCloseTimeout, close_timeout_ms_,
                 close_timeout_ms_);
}

void TcpConnection::onCloseTimeout(uv_timer_t* timer) {
  auto* self = static_cast<TcpConnection*>(timer->data);
  if (self == nullptr || self->handle_ == nullptr) return;
  // The peer took some since the last look (libuv's queue counts what the socket has not
  // taken, within a request too): a slow reader, not a stalled one. Look again later.
  const size_t queued =
      uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(self->handle_));
  if (queued < self->close_queue_seen_) {
    self->close_queue_seen_ = queued;
    return;
  }
  self->fail("closed with " + std::to_string(self->pending_bytes_) +
             " bytes the peer took nothing of in " + std::to_string(self->close_timeout_ms_) +
             " ms");
}

void TcpConnection::abort() { release(); }

void TcpConnection::fail(std::string_view reason) {
  if (handle_ == nullptr) return;
  release();
  callbacks_->onClosed(reason);
}

void TcpConnection::release() {
  if (close_timer_ != nullptr) {
    close_timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(close_timer_), freeTimer);
    close_timer_ = nullptr;
  }
  if (handle_ == nullptr) return;
  handle_->data = nullptr;
  auto* h = reinterpret_cast<uv_handle_t*>(handle_);
  if (!uv_is_closing(h)) uv_close(h, freeHandle);
  handle_ = nullptr;
  closing_ = true;
}

}  // namespace tollgate::sidecar
