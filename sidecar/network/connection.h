// A TCP connection on one libuv loop: buffered writes with watermarks, read pausing, close.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/network/address.h"

namespace tollgate::sidecar {

// What a connection tells its owner. All calls happen on the connection's loop thread.
class ConnectionCallbacks {
 public:
  virtual ~ConnectionCallbacks() = default;
  // Connect finished (only for outgoing connections). On error the connection is closed.
  virtual void onConnected(const absl::Status& status) { (void)status; }
  // Bytes arrived. `data` is valid only during the call.
  virtual void onData(std::string_view data) = 0;
  // The peer closed or the connection failed. No more calls follow. `reason` is a short text
  // ("peer closed", "connection reset by peer", ...).
  virtual void onClosed(std::string_view reason) = 0;
  // With allowHalfClose(true): the peer shut down its sending side (FIN) and may still read.
  // Reading has stopped; writes go on until closeAfterFlush() or abort().
  virtual void onPeerFinished() {}
  // Pending write bytes crossed the high watermark (true) or drained below the low one (false).
  // Owners use this to pause reading on the other side of a proxy (back-pressure).
  virtual void onWriteBufferPressure(bool above_high) { (void)above_high; }
};

// Owned by exactly one owner on one loop. Destroying it closes the socket at once (pending
// writes are dropped); use closeAfterFlush() for an orderly close. Not thread-safe.
class TcpConnection {
 public:
  static constexpr size_t kDefaultHighWatermark = 256 * 1024;
  static constexpr size_t kDefaultLowWatermark = 64 * 1024;

  // Adopts an accepted socket. Reading starts at once.
  static absl::StatusOr<std::unique_ptr<TcpConnection>> adopt(uv_loop_t* loop, int fd,
                                                              ConnectionCallbacks* callbacks);
  // Starts connecting to `address`; onConnected reports the result. Reading starts on success.
  static std::unique_ptr<TcpConnection> connect(uv_loop_t* loop, const SocketAddress& address,
                                                ConnectionCallbacks* callbacks);
  // Connects to the first of `addresses` that accepts, trying them one after the other (a name's
  // IPv6 and IPv4 addresses, a server with several); onConnected reports once: success, or
  // when none accepts an error naming each failure. remote() says which one connected. The
  // callback may run before connect() returns when none could even be tried.
  static std::unique_ptr<TcpConnection> connect(uv_loop_t* loop,
                                                std::vector<SocketAddress> addresses,
                                                ConnectionCallbacks* callbacks);
  // The address connected to (or being tried) for an outgoing connection.
  const SocketAddress& remote() const;
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Sends bytes: straight to the socket when nothing is queued and it takes them all (no copy,
  // no request), the rest is copied and queued. Silently dropped after close. Errors are
  // reported through onClosed from the loop, never from inside write().
  void write(std::string_view data);
  void write(std::string&& data);
  size_t pendingWriteBytes() const { return pending_bytes_; }
  // Stops or resumes delivering onData (nested calls are counted).
  void readDisable(bool disable);
  // Closes once every queued write is on the wire, then reports onClosed("closed"). A peer
  // that takes nothing of them for closeTimeoutMs() (default 10 s; each write it takes starts
  // the wait again) is dropped (onClosed with the reason): nothing waits forever on a reader
  // that went away without closing, and a slow reader still gets everything.
  void closeAfterFlush();
  static constexpr uint64_t kCloseFlushTimeoutMs = 10'000;
  void setCloseTimeoutMs(uint64_t ms) { close_timeout_ms_ = ms; }
  // Sends FIN once every queued write is on the wire; reading goes on (the peer may still
  // send). Later writes are dropped. End with closeAfterFlush() or abort().
  void finishWrites();
  // Closes now, dropping queued writes; reports nothing.
  void abort();
  bool open() const { return handle_ != nullptr && !closing_; }
  // True once the socket is fully closed (or was never connected).
  bool closed() const { return handle_ == nullptr; }
  void setWatermarks(size_t high, size_t low) {
    high_watermark_ = high;
    low_watermark_ = low;
  }
  void setCallbacks(ConnectionCallbacks* callbacks) { callbacks_ = callbacks; }
  // Whether the peer's FIN is reported as onPeerFinished() (the socket stays open for writing)
  // instead of closing the connection (onClosed("peer closed")), the default.
  void allowHalfClose(bool allow) { half_close_ = allow; }
  int fd() const;

 private:
  struct WriteReq;
  TcpConnection(uv_loop_t* loop, ConnectionCallbacks* callbacks);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onConnect(uv_connect_t* req, int status);
  static void onShutdown(uv_shutdown_t* req, int status);
  static void onWritesFinished(uv_shutdown_t* req, int status);
  static void onCloseTimeout(uv_timer_t* timer);
  void shutdownWrites();
  void startReading();
  // Starts connecting to the next untried address; when none is left, reports the failures.
  void connectNext();
  void fail(std::string_view reason);
  void release();
  void writeDone(size_t bytes);
  // Writes what the socket takes now when nothing is queued; returns the bytes written.
  size_t tryWrite(std::string_view data);
  void queueWrite(std::string&& data);

  uv_loop_t* loop_;
  uv_tcp_t* handle_ = nullptr;
  uv_timer_t* close_timer_ = nullptr;  // closeAfterFlush() with writes queued
  uint64_t close_timeout_ms_ = kCloseFlushTimeoutMs;
  size_t close_queue_seen_ = 0;  // libuv's write queue when the close timer last looked
  ConnectionCallbacks* callbacks_;
  std::vector<SocketAddress> addresses_;  // outgoing: what to try, in order
  size_t tried_ = 0;                      // of addresses_, started so far
  std::string connect_errors_;
  size_t pending_bytes_ = 0;
  size_t high_watermark_ = kDefaultHighWatermark;
  size_t low_watermark_ = kDefaultLowWatermark;
  bool above_high_ = false;
  int read_disable_count_ = 0;
  bool reading_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
  bool half_close_ = false;
  bool peer_finished_ = false;  // FIN read with half_close_: never read again
  bool finish_writes_ = false;  // finishWrites(): FIN once the queue is out
  bool writes_shut_ = false;    // that FIN's shutdown was requested
};
using TcpConnectionPtr = std::unique_ptr<TcpConnection>;

}  // namespace tollgate::sidecar
