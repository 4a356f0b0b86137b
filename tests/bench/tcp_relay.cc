// A bare TCP relay for tests/bench/run: one thread, epoll, read() and write() of whatever
// arrives, no TLS, no protocol, no policy. Its CPU per query is the floor that any user-space
// proxy on the machine sits on (four socket syscalls and two wake-ups per query), measured in the
// same run as PgBouncer and the sidecar.
//
// Usage: tcp_relay LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct End {
  int fd = -1;
  End* peer = nullptr;
  std::string pending;  // bytes for this end that its socket did not take yet
  bool closed = false;
};

int g_epoll = -1;
std::vector<End*> g_closed;  // freed after the epoll batch that closed them

void setEvents(End* e, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = e;
  epoll_ctl(g_epoll, EPOLL_CTL_MOD, e->fd, &ev);
}

void closePair(End* e) {
  for (End* x : {e, e->peer}) {
    close(x->fd);
    x->closed = true;
    g_closed.push_back(x);
  }
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void add(End* e) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = e;
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, e->fd, &ev);
}

// Writes `data` to `to`; what the socket does not take waits for EPOLLOUT, and `from` stops
// reading until it is gone (back-pressure). False when `to` failed.
bool forward(End* from, End* to, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(to->fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) return false;
    if (w < 0) break;
    data += w;
    n -= static_cast<size_t>(w);
  }
  if (n > 0) {
    to->pending.assign(data, n);
    setEvents(to, EPOLLOUT);
    setEvents(from, 0);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tcp_relay LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  const int listen_port = std::atoi(argv[1]);
  const int upstream_port = std::atoi(argv[2]);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in la = loopback(listen_port);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&la), sizeof la) != 0 || listen(lfd, 128) != 0) {
    std::perror("tcp_relay: listen");
    return 1;
  }
  g_epoll = epoll_create1(0);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;  // the listener
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, lfd, &lev);
  static char buf[65536];
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(g_epoll, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1;
    for (int i = 0; i < n; ++i) {
      End* e = static_cast<End*>(events[i].data.ptr);
      if (e != nullptr && e->closed) continue;
      if (e == nullptr) {
        int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
        if (cfd < 0) continue;
        int ufd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in ua = loopback(upstream_port);
        if (connect(ufd, reinterpret_cast<sockaddr*>(&ua), sizeof ua) != 0) {
          close(cfd);
          close(ufd);
          continue;
        }
        nonblocking(cfd);
        nonblocking(ufd);
        End* c = new End{cfd};
        End* u = new End{ufd};
        c->peer = u;
        u->peer = c;
        add(c);
        add(u);
        continue;
      }
      if ((events[i].events & EPOLLOUT) != 0) {
        std::string data = std::move(e->pending);
        e->pending.clear();
        setEvents(e, EPOLLIN);
        setEvents(e->peer, EPOLLIN);
        if (!forward(e->peer, e, data.data(), data.size())) {
          closePair(e);
        }
        continue;
      }
      ssize_t r = read(e->fd, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0 || !forward(e, e->peer, buf, static_cast<size_t>(r))) closePair(e);
    }
    for (End* x : g_closed) delete x;
    g_closed.clear();
  }
}
