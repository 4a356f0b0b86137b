// Host names resolved off the event loops, each answer kept for a fixed interval.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "sidecar/network/address.h"

namespace tollgate::sidecar {

// The addresses of a host, in the order the system resolver gives them, without duplicates.
using AddressList = std::vector<SocketAddress>;
using AddressCallback = std::function<void(absl::StatusOr<AddressList>)>;
// One blocking lookup of a name (getaddrinfo; a fake in tests). Ports are 0.
using LookupFn = std::function<absl::StatusOr<AddressList>(const std::string& host)>;

// getaddrinfo(host) with every address it returns (IPv4 and IPv6).
absl::StatusOr<AddressList> systemLookup(const std::string& host);
// `addresses` with `port` set in each.
AddressList withPort(AddressList addresses, int port);

// Resolves names on threads of its own (at most kMaxThreads, started when there is a lookup to
// make and ended when there is none), never on an event loop: a resolver that does not answer
// costs the callers that wait for that name, not every session of a loop. getaddrinfo gives
// no TTL, so an answer is kept for `refresh` and then looked up again: a DNS change is seen at
// most `refresh` late.
//
// Stale while refreshing: a name with addresses whose answer is older than `refresh` still
// answers at once with them (IfStale::kAnswer, the default), and one lookup starts behind
// them; its result replaces the entry when it comes. Only callers that ask for kWait, and
// callers of a name that never had addresses, wait for a lookup. One lookup per name is in
// flight at a time; whoever waits meanwhile waits for that one. A lookup that fails keeps the
// addresses the name had (a DNS outage must not make a database's address unknown, which under
// `unknownDestination: passthrough` would relay it raw) and is tried again after `refresh`; a
// name that never resolved answers its error for kNegativeSeconds before it is tried again.
//
// Lookup budget: a name DNS does not answer holds its thread for the resolver's whole timeout
// (seconds), so such names must not be able to take every thread. Each lookup is one of three
// kinds, by the name's last lookup: *healthy* (it gave addresses), *new* (none has ended yet)
// or *failing* (it failed). At most kMaxThreads lookups run at once, of which at most
// kMaxUnprovenLookups new or failing ones, of which at most kMaxFailingLookups failing ones.
// So a refresh of a healthy name always finds a thread that no other kind can take, and a new
// name (a policy's new upstream) one that failing names cannot take; names waiting for a kind
// that is at its limit wait in the order asked, without holding up the other kinds.
//
// Thread-safe. `done` runs once: at once, on the caller's thread, for an IP literal or an
// answer it does not wait for, else on a resolver thread; callers post it to their own loop.
// After stop() nothing is answered any more.
class Resolver {
 public:
  static constexpr int kMaxThreads = 3;
  static constexpr int kMaxUnprovenLookups = 2;  // new and failing names together
  static constexpr int kMaxFailingLookups = 1;
  static constexpr int kNegativeSeconds = 5;

  // What resolve() answers for a name with addresses older than the refresh interval.
  enum class IfStale {
    kAnswer,  // those addresses, at once; a lookup starts behind them
    kWait,    // what the lookup it starts gives (the old addresses when that lookup fails)
  };

  explicit Resolver(std::chrono::seconds refresh, ClockPtr clock = systemClock(),
                    LookupFn lookup = systemLookup);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The addresses of `host` (an IP literal or a name), port 0.
  void resolve(const std::string& host, AddressCallback done, IfStale if_stale = IfStale::kAnswer);
  // Whether resolve(host) would now answer with addresses older than the refresh interval.
  bool stale(const std::string& host) const;
  // Drops the callbacks still waiting and returns once none is running. A lookup in flight
  // finishes on its own thread (getaddrinfo cannot be interrupted), which then ends without
  // calling anyone: a stuck resolver never holds up a shutdown. Idempotent.
  void stop();

  std::chrono::seconds refreshInterval() const { return refresh_; }

 private:
  struct State;
  // Runs on a detached thread, which owns its copy of `state`.
  static void lookupThread(const std::shared_ptr<State>& state);

  std::chrono::seconds refresh_;
  std::shared_ptr<State> state_;
};
using ResolverPtr = std::shared_ptr<Resolver>;

}  // namespace tollgate::sidecar
