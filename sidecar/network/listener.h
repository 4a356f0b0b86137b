// A listening socket on the main loop that accepts connections and hands them to a handler.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sidecar/network/address.h"

namespace tollgate::sidecar {

// A freshly accepted socket. `destination` is where the client meant to connect: the
// original destination for transparent listeners, the listening address otherwise.
struct AcceptedSocket {
  int fd = -1;
  SocketAddress peer;
  SocketAddress destination;
  bool redirected = false;  // true when SO_ORIGINAL_DST differed from the local address
};

// Accepts on the main loop (non-blocking accept4 until EAGAIN) and passes every socket to
// `on_accept`, which takes ownership of the fd. Not thread-safe: main loop only.
class Listener {
 public:
  using AcceptFn = std::function<void(AcceptedSocket)>;

  // Binds and listens on address:port (port 0 picks a free port). `transparent` reads the
  // original destination of redirected connections.
  static absl::StatusOr<std::unique_ptr<Listener>> create(uv_loop_t* loop,
                                                          const std::string& address, int port,
                                                          bool transparent, AcceptFn on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  const SocketAddress& address() const { return address_; }
  // Stops accepting and closes the socket.
  void close();

 private:
  Listener() = default;
  static void onReadable(uv_poll_t* handle, int status, int events);
  // Out of descriptors or memory: the socket stays readable, so polling it again at once would
  // spin. Accepting pauses for kPause; the failure is logged once per kLogEvery.
  void pauseAccepting(int err);

  static constexpr uint64_t kPauseMs = 200;
  static constexpr uint64_t kLogEveryMs = 10000;

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* resume_ = nullptr;
  uint64_t last_logged_ms_ = 0;
  uint64_t paused_count_ = 0;
  SocketAddress address_;
  bool transparent_ = false;
  AcceptFn on_accept_;
};
using ListenerPtr = std::unique_ptr<Listener>;

}  // namespace tollgate::sidecar
