// Socket address helpers.
#include "sidecar/network/address.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include <cstring>

namespace tollgate::sidecar {

std::string SocketAddress::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof(buf));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof(buf));
  }
  return buf;
}

int SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::toString() const {
  if (family() == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
  return host() + ":" + std::to_string(port());
}

bool SocketAddress::operator==(const SocketAddress& o) const {
  return family() == o.family() && host() == o.host() && port() == o.port();
}

std::optional<SocketAddress> parseSocketAddress(const std::string& host, int port) {
  SocketAddress a;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  return std::nullopt;
}

namespace {
template <typename Fn>
std::optional<SocketAddress> query(int fd, Fn fn) {
  SocketAddress a;
  a.len = sizeof(a.storage);
  if (fn(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len) != 0) return std::nullopt;
  return a;
}
}  // namespace

std::optional<SocketAddress> localAddress(int fd) { return query(fd, ::getsockname); }
std::optional<SocketAddress> peerAddress(int fd) { return query(fd, ::getpeername); }

std::optional<SocketAddress> originalDestination(int fd) {
  auto local = localAddress(fd);
  if (!local) return std::nullopt;
  SocketAddress a;
  a.len = sizeof(a.storage);
  if (local->family() == AF_INET) {
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &a.storage, &a.len) != 0) return std::nullopt;
  } else {
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &a.storage, &a.len) != 0) {
      return std::nullopt;
    }
  }
  return a;
}

}  // namespace tollgate::sidecar
