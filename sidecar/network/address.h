// Socket address helpers: parsing, formatting, and the original destination after a REDIRECT.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>

namespace tollgate::sidecar {

// An IPv4 or IPv6 socket address.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  std::string host() const;  // numeric, without brackets
  int port() const;
  std::string toString() const;  // "1.2.3.4:5" or "[::1]:5"
  bool operator==(const SocketAddress& o) const;
};

// Parses a numeric IPv4/IPv6 address and a port. nullopt on anything else.
std::optional<SocketAddress> parseSocketAddress(const std::string& host, int port);

// Local and peer address of a connected socket.
std::optional<SocketAddress> localAddress(int fd);
std::optional<SocketAddress> peerAddress(int fd);

// The destination the client originally connected to before an iptables REDIRECT
// (SO_ORIGINAL_DST for IPv4, IP6T_SO_ORIGINAL_DST for IPv6). nullopt when the socket was not
// redirected (the kernel has no conntrack entry), in which case the local address is the
// destination.
std::optional<SocketAddress> originalDestination(int fd);

}  // namespace tollgate::sidecar
