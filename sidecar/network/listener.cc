// Listener: raw non-blocking accept on a uv_poll handle, so accepted fds can move to workers.
#include "sidecar/network/listener.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace tollgate::sidecar {

absl::StatusOr<std::unique_ptr<Listener>> Listener::create(uv_loop_t* loop,
                                                           const std::string& address, int port,
                                                           bool transparent, AcceptFn on_accept) {
  auto addr = parseSocketAddress(address, port);
  if (!addr) {
    return absl::InvalidArgumentError("listen address '" + address + "' is not a numeric IP");
  }
  int fd = ::socket(addr->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (addr->family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (::bind(fd, addr->sa(), addr->len) != 0 || ::listen(fd, 1024) != 0) {
    int err = errno;
    ::close(fd);
    return absl::UnavailableError("listen on " + addr->toString() + ": " + std::strerror(err));
  }
  std::unique_ptr<Listener> l(new Listener);
  l->fd_ = fd;
  l->address_ = *localAddress(fd);
  l->transparent_ = transparent;
  l->on_accept_ = std::move(on_accept);
  l->poll_ = new uv_poll_t;
  uv_poll_init_socket(loop, l->poll_, fd);
  l->poll_->data = l.get();
  uv_poll_start(l->poll_, UV_READABLE, &Listener::onReadable);
  l->resume_ = new uv_timer_t;
  uv_timer_init(loop, l->resume_);
  l->resume_->data = l.get();
  return l;
}

void Listener::pauseAccepting(int err) {
  ++paused_count_;
  const uint64_t now = uv_now(resume_->loop);
  if (last_logged_ms_ == 0 || now - last_logged_ms_ >= kLogEveryMs) {
    log::warn("accept failed; accepting paused", {{"listener", address_.toString()},
                                                  {"error", std::strerror(err)},
                                                  {"pauses", std::to_string(paused_count_)}});
    last_logged_ms_ = now;
  }
  uv_poll_stop(poll_);
  uv_timer_start(
      resume_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Listener*>(t->data);
        if (self != nullptr && self->poll_ != nullptr) {
          uv_poll_start(self->poll_, UV_READABLE, &Listener::onReadable);
        }
      },
      kPauseMs, 0);
}

Listener::~Listener() { close(); }

void Listener::close() {
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (resume_ != nullptr) {
    resume_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(resume_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    resume_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Listener::onReadable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Listener*>(handle->data);
  if (self == nullptr || status < 0) return;
  // Bounded batch so one busy listener cannot starve the main loop.
  for (int i = 0; i < 64; ++i) {
    AcceptedSocket s;
    s.peer.len = sizeof(s.peer.storage);
    int fd = ::accept4(self->fd_, reinterpret_cast<sockaddr*>(&s.peer.storage), &s.peer.len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        self->pauseAccepting(err);
      } else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED) {
        log::warn("accept failed",
                  {{"listener", self->address_.toString()}, {"error", std::strerror(err)}});
      }
      return;
    }
    s.fd = fd;
    auto local = localAddress(fd);
    s.destination = local ? *local : self->address_;
    if (self->transparent_) {
      if (auto orig = originalDestination(fd); orig && !(*orig == s.destination)) {
        s.destination = *orig;
        s.redirected = true;
      }
    }
    self->on_accept_(std::move(s));
  }
}

}  // namespace tollgate::sidecar
