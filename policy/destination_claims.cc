// Destination claims: one resource per address:port, conflicts named.
#include "policy/destination_claims.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tollgate::policy {
namespace {

std::string describe(const DestinationClaim& c) {
  return absl::StrCat("resource '", c.resource, "' (",
                      c.kind == DestinationClaim::Kind::kMatch ? "match.hosts " : "its upstream ",
                      c.host, ")");
}

std::string hostPort(const std::string& address, int port) {
  return address.find(':') != std::string::npos ? absl::StrCat("[", address, "]:", port)
                                                : absl::StrCat(address, ":", port);
}

}  // namespace

std::optional<std::string> canonicalAddress(std::string_view host) {
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  char buf[INET6_ADDRSTRLEN] = {};
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      in_addr v4{};
      std::memcpy(&v4, &v6.s6_addr[12], sizeof(v4));
      return std::string(inet_ntop(AF_INET, &v4, buf, sizeof(buf)));
    }
    return std::string(inet_ntop(AF_INET6, &v6, buf, sizeof(buf)));
  }
  // inet_aton, as getaddrinfo reads a numeric host: also "127.1" and "0x7f.0.0.1".
  in_addr v4{};
  if (!h.empty() && absl::ascii_isxdigit(static_cast<unsigned char>(h.front())) &&
      inet_aton(h.c_str(), &v4) != 0) {
    return std::string(inet_ntop(AF_INET, &v4, buf, sizeof(buf)));
  }
  return std::nullopt;
}

std::string ClaimConflict::message() const {
  return absl::StrCat("destination ", hostPort(address, port), " is already claimed by ",
                      describe(first), "; ", describe(second), " claims it too");
}

std::vector<std::string> DestinationClaims::literalAddresses(const std::string& host) {
  if (auto ip = canonicalAddress(host)) return {*ip};
  if (host.empty() || host.find('*') != std::string::npos) return {};
  return {absl::AsciiStrToLower(host)};
}

DestinationClaims DestinationClaims::build(const PolicyDocument& doc,
                                           const AddressesOf& addresses_of) {
  DestinationClaims claims;
  for (const auto& r : doc.resources) {
    for (const auto& address : addresses_of(r.upstream.host)) {
      claims.upstreams_.insert({address, r.upstream.port, r.name});
    }
  }
  // Match claims first, so that a conflict names the match claim as the one already there. A
  // resource without `match` claims its upstream only (below): two of them on one server
  // share it rather than conflict.
  for (const auto& r : doc.resources) {
    if (r.match.hosts.empty() && r.match.ports.empty()) continue;
    std::vector<std::string> hosts =
        r.match.hosts.empty() ? std::vector<std::string>{r.upstream.host} : r.match.hosts;
    std::vector<int> ports =
        r.match.ports.empty() ? std::vector<int>{r.upstream.port} : r.match.ports;
    for (const auto& host : hosts) {
      if (host.find('*') != std::string::npos) continue;
      DestinationClaim claim{r.name, DestinationClaim::Kind::kMatch, host, r.protocol};
      for (const auto& address : addresses_of(host)) {
        for (int port : ports) claims.add(address, port, claim);
      }
    }
  }
  for (const auto& r : doc.resources) {
    DestinationClaim claim{r.name, DestinationClaim::Kind::kUpstream, r.upstream.host, r.protocol};
    for (const auto& address : addresses_of(r.upstream.host)) {
      claims.add(address, r.upstream.port, claim);
    }
  }
  return claims;
}

void DestinationClaims::add(const std::string& address, int port, const DestinationClaim& claim) {
  auto [it, fresh] = entries_.try_emplace(std::make_pair(address, port), Entry{claim, -1});
  if (fresh || it->second.claim.resource == claim.resource) return;
  const DestinationClaim& held = it->second.claim;
  const bool same_protocol = held.protocol == claim.protocol;
  // A resource's match naming the upstream it shares with another resource of its protocol
  // (two databases of one server) gives the destination to the one that names it (match claims
  // come first). On another server, a job dialling the database's real address would reach
  // that other server under other rules; across protocols a raw relay would reach a gated
  // server, or a raw one be gated: conflicts.
  if (same_protocol && held.kind == DestinationClaim::Kind::kMatch &&
      claim.kind == DestinationClaim::Kind::kUpstream &&
      upstreams_.contains({address, port, held.resource})) {
    return;
  }
  auto& others = it->second.others;
  if (std::none_of(others.begin(), others.end(),
                   [&](const DestinationClaim& c) { return c.resource == claim.resource; })) {
    others.push_back(claim);
  }
  ClaimConflict conflict{address, port, held, claim,
                         held.kind == DestinationClaim::Kind::kMatch ||
                             claim.kind == DestinationClaim::Kind::kMatch || !same_protocol};
  // A third claimant adds its own conflict; the entry keeps pointing at the first.
  for (const auto& c : conflicts_) {
    if (c.address == address && c.port == port && c.second.resource == claim.resource) return;
  }
  conflicts_.push_back(std::move(conflict));
  if (it->second.conflict < 0) it->second.conflict = static_cast<int>(conflicts_.size() - 1);
}

DestinationClaims::Lookup DestinationClaims::find(std::string_view address, int port) const {
  std::string key = canonicalAddress(address).value_or(absl::AsciiStrToLower(std::string(address)));
  auto it = entries_.find(std::make_pair(key, port));
  if (it == entries_.end()) return {};
  if (it->second.conflict >= 0) return {nullptr, &conflicts_[it->second.conflict]};
  return {&it->second.claim, nullptr};
}

const DestinationClaim* DestinationClaims::gatedClaimBesides(std::string_view address, int port,
                                                             std::string_view resource) const {
  std::string key = canonicalAddress(address).value_or(absl::AsciiStrToLower(std::string(address)));
  auto it = entries_.find(std::make_pair(key, port));
  if (it == entries_.end()) return nullptr;
  auto gated = [&](const DestinationClaim& c) {
    return c.resource != resource && c.protocol != Protocol::kTcp;
  };
  if (gated(it->second.claim)) return &it->second.claim;
  for (const auto& c : it->second.others) {
    if (gated(c)) return &c;
  }
  return nullptr;
}

bool DestinationClaims::hasFatalConflict() const {
  for (const auto& c : conflicts_) {
    if (c.fatal) return true;
  }
  return false;
}

std::string DestinationClaims::fatalMessage() const {
  std::string out;
  for (const auto& c : conflicts_) {
    if (c.fatal) absl::StrAppend(&out, out.empty() ? "" : "\n", c.message());
  }
  return out;
}

}  // namespace tollgate::policy
