// Name resolution on the resolver's own threads, with a cache.
#include "sidecar/network/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "common/log.h"

namespace tollgate::sidecar {

absl::StatusOr<AddressList> systemLookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    return absl::UnavailableError("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  AddressList out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress s;
    std::memcpy(&s.storage, a->ai_addr, a->ai_addrlen);
    s.len = a->ai_addrlen;
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  freeaddrinfo(res);
  if (out.empty()) return absl::UnavailableError("cannot resolve " + host + ": no address");
  return out;
}

AddressList withPort(AddressList addresses, int port) {
  for (auto& a : addresses) {
    if (a.family() == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(static_cast<uint16_t>(port));
    } else if (a.family() == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(static_cast<uint16_t>(port));
    }
  }
  return addresses;
}

struct Resolver::State {
  // A lookup's kind, by how the name's last lookup ended (see the lookup budget in the header).
  enum Kind { kHealthy, kNew, kFailing, kKinds };

  struct Entry {
    AddressList addresses;  // the last answer with addresses (empty: none yet)
    absl::Status error;     // with no addresses: why
    std::chrono::steady_clock::time_point expires{};
    bool answered = false;     // a lookup of it has ended
    bool last_failed = false;  // ... and the last one failed
    bool in_flight = false;    // queued or running
    std::vector<AddressCallback> waiters;

    Kind kind() const { return !answered ? kNew : last_failed ? kFailing : kHealthy; }
    absl::StatusOr<AddressList> answer() const {
      if (addresses.empty()) return error;
      return addresses;
    }
  };

  std::chrono::seconds refresh;
  ClockPtr clock;
  LookupFn lookup;
  std::mutex mu;
  std::condition_variable idle;                   // signalled when `delivering` drops to 0
  absl::flat_hash_map<std::string, Entry> cache;  // by name in lower case
  std::deque<std::string> queue;                  // names waiting for a thread, in order asked
  int threads = 0;
  int running[kKinds] = {};  // lookups running now, by kind
  int delivering = 0;        // threads running callbacks now
  bool stopped = false;

  // Whether a lookup of `kind` fits the budget now (under mu).
  bool mayStart(Kind kind) const {
    const int unproven = running[kNew] + running[kFailing];
    if (unproven + running[kHealthy] >= kMaxThreads) return false;
    if (kind == kHealthy) return true;
    if (unproven >= kMaxUnprovenLookups) return false;
    return kind == kNew || running[kFailing] < kMaxFailingLookups;
  }
  // Queues a lookup of `name` and starts a thread for it when the budget and the thread count
  // allow; otherwise a running thread takes it once it may (under mu).
  void startLookup(const std::shared_ptr<State>& self, const std::string& name, Entry& e) {
    e.in_flight = true;
    queue.push_back(name);
    if (threads < kMaxThreads && mayStart(e.kind())) {
      ++threads;
      // Detached: a lookup cannot be interrupted, and stop() must not wait for one. The
      // thread holds the state, and touches nothing else once stopped.
      std::thread(&Resolver::lookupThread, self).detach();
    }
  }
};

Resolver::Resolver(std::chrono::seconds refresh, ClockPtr clock, LookupFn lookup)
    : refresh_(refresh), state_(std::make_shared<State>()) {
  state_->refresh = refresh;
  state_->clock = std::move(clock);
  state_->lookup = std::move(lookup);
}

Resolver::~Resolver() { stop(); }

void Resolver::resolve(const std::string& host, AddressCallback done, IfStale if_stale) {
  if (auto numeric = parseSocketAddress(host, 0)) {
    done(AddressList{*numeric});
    return;
  }
  std::string name = absl::AsciiStrToLower(host);
  std::unique_lock lock(state_->mu);
  if (state_->stopped) return;
  State::Entry& e = state_->cache[name];
  const bool fresh = e.answered && state_->clock->monotonic() < e.expires;
  if (fresh || (!e.addresses.empty() && if_stale == IfStale::kAnswer)) {
    if (!fresh && !e.in_flight) state_->startLookup(state_, name, e);
    absl::StatusOr<AddressList> answer = e.answer();
    lock.unlock();
    done(std::move(answer));
    return;
  }
  e.waiters.push_back(std::move(done));
  if (!e.in_flight) state_->startLookup(state_, name, e);
}

bool Resolver::stale(const std::string& host) const {
  if (parseSocketAddress(host, 0)) return false;
  std::lock_guard lock(state_->mu);
  auto it = state_->cache.find(absl::AsciiStrToLower(host));
  return it != state_->cache.end() && !it->second.addresses.empty() &&
         state_->clock->monotonic() >= it->second.expires;
}

void Resolver::lookupThread(const std::shared_ptr<State>& state) {
  std::unique_lock lock(state->mu);
  while (!state->stopped) {
    // The first name in the queue whose kind fits the budget; none: this thread ends.
    auto next = std::find_if(state->queue.begin(), state->queue.end(), [&](const auto& n) {
      return state->mayStart(state->cache[n].kind());
    });
    if (next == state->queue.end()) break;
    std::string name = std::move(*next);
    state->queue.erase(next);
    const State::Kind kind = state->cache[name].kind();
    ++state->running[kind];
    lock.unlock();
    absl::StatusOr<AddressList> result = state->lookup(name);
    lock.lock();
    --state->running[kind];
    if (state->stopped) break;
    State::Entry& e = state->cache[name];
    const auto now = state->clock->monotonic();
    e.in_flight = false;
    e.answered = true;
    e.last_failed = !result.ok() || result->empty();
    if (!e.last_failed) {
      e.addresses = *std::move(result);
      e.error = absl::OkStatus();
      e.expires = now + state->refresh;
    } else {
      absl::Status why = result.ok()
                             ? absl::UnavailableError("cannot resolve " + name + ": no address")
                             : result.status();
      if (!e.addresses.empty()) {
        log::warn("a name does not resolve now; its last addresses stay in use",
                  {{"host", name}, {"error", std::string(why.message())}});
        e.expires = now + state->refresh;
      } else {
        e.error = why;
        e.expires = now + std::min<std::chrono::seconds>(state->refresh,
                                                         std::chrono::seconds(kNegativeSeconds));
      }
    }
    absl::StatusOr<AddressList> answer = e.answer();
    std::vector<AddressCallback> waiters = std::move(e.waiters);
    e.waiters.clear();
    ++state->delivering;
    lock.unlock();
    for (auto& w : waiters) w(answer);
    waiters.clear();  // what the callbacks hold goes outside the lock too
    lock.lock();
    if (--state->delivering == 0) state->idle.notify_all();
  }
  --state->threads;
}

void Resolver::stop() {
  std::vector<AddressCallback> dropped;
  {
    std::unique_lock lock(state_->mu);
    state_->stopped = true;
    state_->queue.clear();
    for (auto& [name, e] : state_->cache) {
      for (auto& w : e.waiters) dropped.push_back(std::move(w));
      e.waiters.clear();
    }
    state_->idle.wait(lock, [this] { return state_->delivering == 0; });
  }
}

}  // namespace tollgate::sidecar
