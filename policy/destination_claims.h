// Which resource a connection's original destination (address and port) belongs to, built from
// the resources' match entries and upstreams, with the destinations two resources claim.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "policy/model.h"

namespace tollgate::policy {

// The canonical text of an IP literal, the form destinations are compared in: IPv6 lower case
// and compressed ("FD77:0:0::1" is "fd77::1"), an IPv4-mapped IPv6 address as its IPv4 address
// ("::ffff:10.0.0.5" is "10.0.0.5"); brackets are allowed. nullopt for anything else (a name).
std::optional<std::string> canonicalAddress(std::string_view host);

// One resource's claim on a destination.
struct DestinationClaim {
  enum class Kind {
    kMatch,     // match.hosts x match.ports (the upstream's host or port for one not given)
    kUpstream,  // the resource's own upstream.host x upstream.port
  };
  std::string resource;
  Kind kind = Kind::kMatch;
  std::string host;                         // as the policy writes it ("localhost", "10.0.0.5")
  Protocol protocol = Protocol::kPostgres;  // the resource's
};

// A destination that two resources claim. `fatal` unless both claims are upstream claims of
// resources of one protocol: two resources on one server (say, two databases of it) can share
// an upstream, and a connection to it is then refused as ambiguous rather than the policy. A
// raw (tcp) resource sharing a gated one's upstream is fatal: the job would reach the gated
// server unmasked through the raw resource's own match address. A match claim on an upstream
// its own resource shares with another resource of the same protocol is no conflict: the match
// gives it to its resource.
struct ClaimConflict {
  std::string address;
  int port = 0;
  DestinationClaim first;   // the claim recorded first (match claims come before upstream ones)
  DestinationClaim second;  // the other resource's
  bool fatal = true;
  // "destination 127.0.0.1:5433 is already claimed by resource 'a' (match.hosts localhost);
  // resource 'b' claims it too (match.hosts 127.0.0.1)".
  std::string message() const;
};

// The destinations of a policy's resources, each address:port to exactly one resource:
// - every address a match.hosts entry stands for, on each of match.ports (without hosts: the
//   upstream's host; without ports: the upstream's port);
// - the addresses of the resource's own upstream.host, on upstream.port: a job that dials the
//   database's real address reaches the same resource (its masking and rules), never a raw
//   relay under `unknownDestination: passthrough`.
// `*.suffix` patterns claim nothing (a redirected connection shows only its IP). Immutable
// once built; thread-safe to read.
class DestinationClaims {
 public:
  // The addresses a host of the policy stands for, canonical (canonicalAddress()); empty when
  // it stands for none (a name that does not resolve).
  using AddressesOf = std::function<std::vector<std::string>(const std::string& host)>;

  DestinationClaims() = default;
  static DestinationClaims build(const PolicyDocument& doc, const AddressesOf& addresses_of);
  // The addresses a host stands for without looking anything up: an IP literal its canonical
  // form, a name itself in lower case (so two resources naming one host conflict), a pattern
  // none. What the policy compiler checks.
  static std::vector<std::string> literalAddresses(const std::string& host);

  struct Lookup {
    const DestinationClaim* claim = nullptr;  // the one resource claiming it
    const ClaimConflict* conflict = nullptr;  // or the first conflict over it
  };
  // `address` in any form canonicalAddress() reads, or a name (compared in lower case).
  Lookup find(std::string_view address, int port) const;
  // A claim on `address`:`port` by a resource other than `resource` whose protocol is not tcp
  // (a gated resource), among all its claimants, not only the first; null when none.
  const DestinationClaim* gatedClaimBesides(std::string_view address, int port,
                                            std::string_view resource) const;

  const std::vector<ClaimConflict>& conflicts() const { return conflicts_; }
  bool hasFatalConflict() const;
  // The fatal conflicts' messages, one per line ("" when none).
  std::string fatalMessage() const;

 private:
  struct Entry {
    DestinationClaim claim;
    int conflict = -1;                     // index into conflicts_, or -1
    std::vector<DestinationClaim> others;  // the other resources' claims, one per resource
  };
  void add(const std::string& address, int port, const DestinationClaim& claim);

  absl::flat_hash_map<std::pair<std::string, int>, Entry> entries_;
  // Every resource's upstream address:port (canonical address, port, resource).
  absl::flat_hash_set<std::tuple<std::string, int, std::string>> upstreams_;
  std::vector<ClaimConflict> conflicts_;
};

}  // namespace tollgate::policy
