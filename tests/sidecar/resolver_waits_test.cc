// Who waits for DNS in the ConnectionManager, with a DNS the test controls: a policy reload
// whose names are fresh installs at once (a stale or new one waits), and a raw relay whose
// upstream name DNS does not answer is refused at the startup timeout, its late answer
// touching nothing; a tcp resource whose name moved onto a gated server is refused.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "policy/loader.h"
#include "prometheus/registry.h"
#include "sidecar/connection_manager.h"
#include "tests/sidecar/fake_dns.h"
#include "tests/support/test_support.h"

using Catch::Matchers::ContainsSubstring;
using namespace std::chrono_literals;
using tollgate::ManualClock;
using tollgate::policy::CompiledPolicyPtr;
using tollgate::sidecar::AcceptedSocket;
using tollgate::sidecar::AddressList;
using tollgate::sidecar::ConnectionManager;
using tollgate::sidecar::EventSink;
using tollgate::sidecar::LocalAccessBroker;
using tollgate::sidecar::parseSocketAddress;
using tollgate::sidecar::Resolver;
using tollgate::sidecar::SidecarConfig;
using tollgate::sidecar::SidecarStats;
using tollgate::sidecar::testing::FakeDns;
using tollgate::sidecar::testing::lookupOn;

namespace {

// Keeps the events it is given.
class RecordingSink : public EventSink {
 public:
  void publish(tollgate::v1::AuditEvent event) override {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  void flush() override {}
  // The details of the refusals decided by `rule`, once there are `n` of them (5 s at most).
  std::vector<std::string> refusals(const std::string& rule, size_t n = 0) {
    std::vector<std::string> out;
    for (int i = 0; i < 500; ++i) {
      out.clear();
      {
        std::lock_guard lock(mu_);
        for (const auto& e : events_) {
          if (e.type() == tollgate::v1::EVENT_CONNECTION_REFUSED &&
              e.reason().rule_ids_size() > 0 && e.reason().rule_ids(0) == rule) {
            out.push_back(e.action().detail());
          }
        }
      }
      if (out.size() >= n) break;
      std::this_thread::sleep_for(10ms);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<tollgate::v1::AuditEvent> events_;
};

int listenLoopback(int* port) {
  int fd = tollgate::testing::listenLoopback(port);
  REQUIRE(fd >= 0);
  return fd;
}

// A connection accepted from `listener` within `wait` (its descriptor), else -1.
int acceptWithin(int listener, std::chrono::milliseconds wait) {
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return -1;
  return ::accept(listener, nullptr, nullptr);
}

// A client connected to the sidecar: `accepted` is what a listener would hand the manager.
struct Client {
  int fd = -1;
  AcceptedSocket accepted;
};
Client connectClient() {
  int port = 0;
  int listener = listenLoopback(&port);
  Client c;
  c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto dest = *parseSocketAddress("127.0.0.1", port);
  REQUIRE(::connect(c.fd, reinterpret_cast<const sockaddr*>(&dest.storage), dest.len) == 0);
  c.accepted.fd = ::accept(listener, nullptr, nullptr);
  REQUIRE(c.accepted.fd >= 0);
  ::close(listener);
  c.accepted.peer = *parseSocketAddress("127.0.0.1", 40000);
  c.accepted.destination = dest;
  return c;
}

// What reading `fd` gives within `wait`: "open" (nothing), "closed" (EOF) or the bytes.
std::string readWithin(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return "open";
  char buf[64];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n <= 0) return "closed";
  return std::string(buf, static_cast<size_t>(n));
}

CompiledPolicyPtr policyOf(const std::string& resources) {
  auto loaded = tollgate::policy::loadPolicyText(
      "version: 1\nresources:\n" + resources +
          "access:\n  - {name: all, subjects: [{serviceAccount: \"ci/*\"}], resources: [\"*\"], "
          "role: read}\n",
      "test.yaml");
  INFO(loaded.status().message());
  REQUIRE(loaded.ok());
  return loaded.policy;
}

std::string tcpResource(const std::string& name, const std::string& host, int port) {
  return "  - {name: " + name + ", protocol: tcp, upstream: {host: " + host +
         ", port: " + std::to_string(port) + "}}\n";
}

// A manager with one worker, the test's DNS (on its own clock) and the test's clock.
struct Fixture {
  std::shared_ptr<FakeDns> dns = std::make_shared<FakeDns>();
  std::shared_ptr<ManualClock> dns_clock = std::make_shared<ManualClock>();
  std::shared_ptr<Resolver> resolver = std::make_shared<Resolver>(30s, dns_clock, lookupOn(dns));
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<RecordingSink> events = std::make_shared<RecordingSink>();
  SidecarConfig config = [] {
    SidecarConfig c;
    c.workers = 1;
    c.startup_timeout_seconds = 10;
    return c;
  }();
  prometheus::Registry registry;
  SidecarStats stats{registry};
  std::unique_ptr<ConnectionManager> manager;

  Fixture() {
    manager = std::make_unique<ConnectionManager>(
        config, stats, events, nullptr,
        std::make_shared<LocalAccessBroker>("system:serviceaccount:ci:job",
                                            std::vector<std::string>{}),
        resolver, clock);
    REQUIRE(manager->start().ok());
  }
  ~Fixture() { manager.reset(); }

  // setPolicy(); the status if `done` ran within the call, else nullopt. `later` (optional)
  // gets it whenever it comes.
  std::optional<absl::Status> setPolicy(
      CompiledPolicyPtr policy, uint64_t version,
      const std::shared_ptr<std::promise<absl::Status>>& later = nullptr) {
    auto now = std::make_shared<std::optional<absl::Status>>();
    manager->setPolicy(std::move(policy), version,
                       [now, caller = std::this_thread::get_id(), later](const absl::Status& st) {
                         if (std::this_thread::get_id() == caller) *now = st;
                         if (later) later->set_value(st);
                       });
    return *now;
  }
};

}  // namespace

TEST_CASE(
    "a policy reload whose names are fresh installs at once; a stale or new name is looked up "
    "first") {
  Fixture f;
  f.dns->set("a.svc", {"10.0.0.1"});
  f.dns->set("b.svc", {"10.0.0.2"});
  auto first = std::make_shared<std::promise<absl::Status>>();
  CompiledPolicyPtr p1 =
      policyOf(tcpResource("r1", "a.svc", 5432) + tcpResource("r2", "a.svc", 6000));
  f.setPolicy(p1, 1, first);
  auto first_done = first->get_future();
  REQUIRE(first_done.wait_for(5s) == std::future_status::ready);
  REQUIRE(first_done.get().ok());

  // a.svc's answer is fresh: a tighter policy (r2 is gone) installs within the call.
  CompiledPolicyPtr p2 = policyOf(tcpResource("r1", "a.svc", 5432));
  std::optional<absl::Status> st = f.setPolicy(p2, 2);
  REQUIRE(st.has_value());
  CHECK(st->ok());
  CHECK(f.manager->policy() == p2);

  // Stale, it is looked up before the policy's claims are checked (review, session 25: a
  // policy checked on an old answer let a tcp resource onto a gated server's new address).
  f.dns_clock->advance(31s);
  f.dns->block("a.svc", true);
  auto second = std::make_shared<std::promise<absl::Status>>();
  CompiledPolicyPtr p2b =
      policyOf(tcpResource("r1", "a.svc", 5432) + tcpResource("r4", "a.svc", 6001));
  CHECK_FALSE(f.setPolicy(p2b, 3, second).has_value());
  REQUIRE(f.dns->waitLookups("a.svc", 2));
  CHECK(f.manager->policy() == p2);
  f.dns->block("a.svc", false);
  auto second_done = second->get_future();
  REQUIRE(second_done.wait_for(5s) == std::future_status::ready);
  CHECK(second_done.get().ok());
  CHECK(f.manager->policy() == p2b);

  // A new name waits for its lookup; the policy in force stays until then.
  f.dns->block("b.svc", true);
  auto third = std::make_shared<std::promise<absl::Status>>();
  CompiledPolicyPtr p3 =
      policyOf(tcpResource("r1", "a.svc", 5432) + tcpResource("r3", "b.svc", 7000));
  CHECK_FALSE(f.setPolicy(p3, 4, third).has_value());
  REQUIRE(f.dns->waitLookups("b.svc", 1));
  CHECK(f.manager->policy() == p2b);
  f.dns->block("b.svc", false);
  auto third_done = third->get_future();
  REQUIRE(third_done.wait_for(5s) == std::future_status::ready);
  CHECK(third_done.get().ok());
  CHECK(f.manager->policy() == p3);
}

TEST_CASE("a raw relay whose upstream name DNS does not answer is refused at the startup timeout") {
  Fixture f;
  int upstream_port = 0;
  int upstream = listenLoopback(&upstream_port);
  // slow.svc does not resolve when the policy loads; the failure is remembered a few seconds.
  auto loaded = std::make_shared<std::promise<absl::Status>>();
  f.setPolicy(policyOf(tcpResource("raw", "slow.svc", upstream_port) +
                       tcpResource("barrier", "127.0.0.1", upstream_port)),
              1, loaded);
  REQUIRE(loaded->get_future().wait_for(5s) == std::future_status::ready);
  f.dns_clock->advance(std::chrono::seconds(Resolver::kNegativeSeconds));

  // Its next lookup does not return: the client is held meanwhile.
  f.dns->block("slow.svc", true);
  Client a = connectClient();
  f.manager->accept(a.accepted, "raw");
  REQUIRE(f.dns->waitLookups("slow.svc", 2));
  CHECK(f.manager->activeSessions() == 1);
  f.manager->endStalledStartups();
  f.clock->advance(9s);
  f.manager->endStalledStartups();
  // A relay to an IP literal on the same worker: once it connects, the checks above have run.
  Client b = connectClient();
  f.manager->accept(b.accepted, "barrier");
  int up_b = acceptWithin(upstream, 5000ms);
  REQUIRE(up_b >= 0);
  CHECK(f.events->refusals("sidecar:upstream_unresolved").empty());
  CHECK(readWithin(a.fd, 0ms) == "open");  // not refused before its time

  f.clock->advance(1s);
  f.manager->endStalledStartups();
  auto refused = f.events->refusals("sidecar:upstream_unresolved", 1);
  REQUIRE(refused.size() == 1);
  CHECK_THAT(
      refused[0],
      ContainsSubstring("upstream slow.svc did not resolve within the startup timeout (10 s)"));
  CHECK(readWithin(a.fd, 5000ms) == "closed");
  CHECK(f.manager->activeSessions() == 1);  // b's relay

  // The answer comes after all. It reaches the relay's callback before this one (same name,
  // asked later), which then does nothing with the descriptor it no longer owns.
  f.dns->set("slow.svc", {"127.0.0.1"});
  auto late = std::make_shared<std::promise<void>>();
  f.resolver->resolve("slow.svc",
                      [late](const absl::StatusOr<AddressList>&) { late->set_value(); });
  f.dns->block("slow.svc", false);
  REQUIRE(late->get_future().wait_for(5s) == std::future_status::ready);
  Client c = connectClient();  // may reuse the refused connection's descriptor number
  f.manager->accept(c.accepted, "barrier");
  int up_c = acceptWithin(upstream, 5000ms);
  REQUIRE(up_c >= 0);
  CHECK(acceptWithin(upstream, 0ms) < 0);  // no relay was started by the late answer
  CHECK(f.events->refusals("sidecar:upstream_unresolved").size() == 1);
  CHECK(f.manager->activeSessions() == 2);  // b's and c's relays, each counted once
  // c's relay carries bytes: its descriptor is its own.
  REQUIRE(::write(c.fd, "ping", 4) == 4);
  CHECK(readWithin(up_c, 5000ms) == "ping");

  f.manager.reset();  // ends b's and c's relays
  for (int fd : {a.fd, b.fd, c.fd, up_b, up_c, upstream}) ::close(fd);
}

// Review (session 25): a tcp resource's name that DNS moved onto a gated database's address
// (after the policy was checked) relayed connections to it raw, the data unmasked; also when a
// second tcp resource shared the name (the first conflict over the address was theirs), and
// when the name moved to 0.0.0.0 (which reaches the database on loopback).
TEST_CASE("a tcp resource whose name moved onto a gated server is refused, not relayed raw") {
  Fixture f;
  int db_port = 0;
  int db = listenLoopback(&db_port);  // the gated database, on 127.0.0.1
  f.dns->set("legacy.svc", {"127.0.0.2"});
  auto loaded = std::make_shared<std::promise<absl::Status>>();
  f.setPolicy(policyOf(tcpResource("legacy", "legacy.svc", db_port) +
                       tcpResource("legacy-copy", "legacy.svc", db_port) +
                       "  - {name: pay, protocol: postgres, upstream: {host: 127.0.0.1, port: " +
                       std::to_string(db_port) + ", tls: disable}}\n"),
              1, loaded);
  auto loaded_done = loaded->get_future();
  REQUIRE(loaded_done.wait_for(5s) == std::future_status::ready);
  REQUIRE(loaded_done.get().ok());

  // DNS moves the name onto the database; the next refresh's claims see it.
  f.dns->set("legacy.svc", {"127.0.0.1"});
  f.dns_clock->advance(31s);
  f.clock->advance(31s);
  std::promise<void> refreshed;
  f.manager->refreshDestinations([&] { refreshed.set_value(); });
  REQUIRE(refreshed.get_future().wait_for(5s) == std::future_status::ready);

  Client c = connectClient();
  f.manager->accept(c.accepted, "legacy");
  auto refused = f.events->refusals("sidecar:conflicting_destination", 1);
  REQUIRE(refused.size() == 1);
  CHECK_THAT(refused[0], ContainsSubstring("resource legacy's upstream resolves to 127.0.0.1:" +
                                           std::to_string(db_port) + ", which resource pay"));
  CHECK(readWithin(c.fd, 5000ms) == "closed");
  CHECK(acceptWithin(db, 0ms) < 0);  // nothing reached the database raw
  ::close(c.fd);

  f.dns->set("legacy.svc", {"0.0.0.0"});
  f.dns_clock->advance(31s);
  f.clock->advance(31s);
  std::promise<void> again;
  f.manager->refreshDestinations([&] { again.set_value(); });
  REQUIRE(again.get_future().wait_for(5s) == std::future_status::ready);
  Client d = connectClient();
  f.manager->accept(d.accepted, "legacy");
  refused = f.events->refusals("sidecar:conflicting_destination", 2);
  REQUIRE(refused.size() == 2);
  CHECK_THAT(refused[1], ContainsSubstring("resolves to the unspecified address 0.0.0.0"));
  CHECK(readWithin(d.fd, 5000ms) == "closed");
  CHECK(acceptWithin(db, 0ms) < 0);
  ::close(d.fd);
  ::close(db);
}
