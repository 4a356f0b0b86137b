// The resolver: answers kept for the refresh interval and then looked up again (a DNS change is
// seen) while the old ones are still served, one lookup per name at a time, the last addresses
// kept through a failure, and no caller held by a lookup that does not return (a blackholed
// DNS), nor by names whose lookups do not return taking every thread.
#include "sidecar/network/resolver.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/sidecar/fake_dns.h"

using Catch::Matchers::ContainsSubstring;
using namespace std::chrono_literals;
using tollgate::ManualClock;
using tollgate::sidecar::AddressList;
using tollgate::sidecar::parseSocketAddress;
using tollgate::sidecar::Resolver;
using tollgate::sidecar::withPort;
using tollgate::sidecar::testing::FakeDns;
using tollgate::sidecar::testing::lookupOn;

namespace {

struct Fixture {
  std::shared_ptr<FakeDns> dns = std::make_shared<FakeDns>();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  Resolver resolver{30s, clock, lookupOn(dns)};

  // Resolves and waits for the answer (5 s at most): the addresses as text, or "error: ...".
  std::string get(const std::string& host,
                  Resolver::IfStale if_stale = Resolver::IfStale::kAnswer) {
    auto p = std::make_shared<std::promise<absl::StatusOr<AddressList>>>();
    auto f = p->get_future();
    resolver.resolve(
        host, [p](absl::StatusOr<AddressList> a) { p->set_value(std::move(a)); }, if_stale);
    if (f.wait_for(5s) != std::future_status::ready) return "no answer";
    return text(f.get());
  }
  // The answer if resolve() gives it within the call, else "later".
  std::string atOnce(const std::string& host) {
    auto answer = std::make_shared<std::string>("later");
    resolver.resolve(host, [answer](const absl::StatusOr<AddressList>& a) { *answer = text(a); });
    return *answer;  // a later answer writes to the shared copy, not to this one
  }
  // Asks until the answer is `want` (5 s at most): a lookup behind a stale answer has ended.
  bool becomes(const std::string& host, const std::string& want) {
    for (int i = 0; i < 500; ++i) {
      if (get(host) == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  static std::string text(const absl::StatusOr<AddressList>& a) {
    if (!a.ok()) return "error: " + std::string(a.status().message());
    std::string out;
    for (const auto& x : *a) out += (out.empty() ? "" : ",") + x.host();
    return out;
  }
};

}  // namespace

TEST_CASE("an IP literal is answered at once, without a lookup") {
  Fixture f;
  bool called = false;
  f.resolver.resolve("::1", [&](const absl::StatusOr<AddressList>& a) {
    called = true;
    REQUIRE(a.ok());
    CHECK(a->front().host() == "::1");
  });
  CHECK(called);
  CHECK(f.get("10.0.0.5") == "10.0.0.5");
  CHECK(f.dns->count("10.0.0.5") == 0);
}

TEST_CASE("an answer is kept for the refresh interval, then a DNS change is seen") {
  Fixture f;
  f.dns->set("db.svc", {"10.0.0.5", "fd00::5"});
  CHECK(f.get("db.svc") == "10.0.0.5,fd00::5");
  CHECK(f.get("DB.svc") == "10.0.0.5,fd00::5");  // names are case-insensitive
  CHECK(f.dns->count("db.svc") == 1);
  f.dns->set("db.svc", {"10.0.0.6"});
  f.clock->advance(29s);
  CHECK(f.get("db.svc") == "10.0.0.5,fd00::5");
  CHECK(f.dns->count("db.svc") == 1);
  f.clock->advance(1s);
  CHECK(f.get("db.svc", Resolver::IfStale::kWait) == "10.0.0.6");
  CHECK(f.dns->count("db.svc") == 2);
}

TEST_CASE("a name with addresses answers at once while its refresh is in flight") {
  Fixture f;
  f.dns->set("db.svc", {"10.0.0.5"});
  CHECK(f.get("db.svc") == "10.0.0.5");
  f.dns->set("db.svc", {"10.0.0.6"});
  f.dns->block("db.svc", true);  // the refresh takes as long as the test wants
  CHECK_FALSE(f.resolver.stale("db.svc"));
  f.clock->advance(30s);
  CHECK(f.resolver.stale("db.svc"));
  CHECK_FALSE(f.resolver.stale("never.svc"));  // no addresses: nothing stale to answer with
  CHECK_FALSE(f.resolver.stale("10.0.0.5"));
  CHECK(f.atOnce("db.svc") == "10.0.0.5");
  REQUIRE(f.dns->waitLookups("db.svc", 2));  // one lookup started behind the answer...
  CHECK(f.atOnce("db.svc") == "10.0.0.5");
  CHECK(f.atOnce("DB.SVC") == "10.0.0.5");
  CHECK(f.dns->count("db.svc") == 2);  // ... and only one
  f.dns->block("db.svc", false);
  CHECK(f.becomes("db.svc", "10.0.0.6"));  // its result replaces the entry
  CHECK(f.dns->count("db.svc") == 2);
  CHECK_FALSE(f.resolver.stale("db.svc"));

  // A caller that asks for a fresh answer waits for the lookup.
  f.dns->set("db.svc", {"10.0.0.7"});
  f.dns->block("db.svc", true);
  f.clock->advance(30s);
  auto answer = std::make_shared<std::promise<std::string>>();
  f.resolver.resolve(
      "db.svc",
      [answer](const absl::StatusOr<AddressList>& a) { answer->set_value(Fixture::text(a)); },
      Resolver::IfStale::kWait);
  REQUIRE(f.dns->waitLookups("db.svc", 3));
  auto got = answer->get_future();
  CHECK(got.wait_for(0s) == std::future_status::timeout);
  f.dns->block("db.svc", false);
  REQUIRE(got.wait_for(5s) == std::future_status::ready);
  CHECK(got.get() == "10.0.0.7");
}

TEST_CASE("callers asking while a lookup is in flight wait for that one lookup") {
  Fixture f;
  f.dns->set("db.svc", {"10.0.0.5"});
  f.dns->block("db.svc", true);
  std::atomic<int> answered{0};
  for (int i = 0; i < 5; ++i) {
    f.resolver.resolve("db.svc", [&](const absl::StatusOr<AddressList>& a) {
      CHECK(a.ok());
      ++answered;
    });
  }
  REQUIRE(f.dns->waitLookups("db.svc", 1));
  CHECK(answered == 0);
  f.dns->block("db.svc", false);
  for (int i = 0; i < 500 && answered < 5; ++i) std::this_thread::sleep_for(10ms);
  CHECK(answered == 5);
  CHECK(f.dns->count("db.svc") == 1);
}

TEST_CASE("a failed lookup keeps the name's last addresses; a name never resolved fails") {
  Fixture f;
  f.dns->set("db.svc", {"10.0.0.5"});
  CHECK(f.get("db.svc") == "10.0.0.5");
  f.dns->erase("db.svc");  // a DNS outage
  f.clock->advance(31s);
  CHECK(f.get("db.svc", Resolver::IfStale::kWait) == "10.0.0.5");
  CHECK(f.dns->count("db.svc") == 2);
  f.clock->advance(31s);
  CHECK(f.atOnce("db.svc") == "10.0.0.5");
  REQUIRE(f.dns->waitLookups("db.svc", 3));
  CHECK(f.get("db.svc") == "10.0.0.5");

  CHECK_THAT(f.get("nowhere.svc"), ContainsSubstring("error: cannot resolve nowhere.svc"));
  CHECK_THAT(f.get("nowhere.svc"), ContainsSubstring("error:"));
  CHECK(f.dns->count("nowhere.svc") == 1);  // the failure is remembered a few seconds
  f.dns->set("nowhere.svc", {"10.0.0.7"});
  f.clock->advance(std::chrono::seconds(Resolver::kNegativeSeconds));
  CHECK(f.get("nowhere.svc") == "10.0.0.7");
}

TEST_CASE("a name whose lookup hangs does not hold up another name") {
  Fixture f;
  f.dns->set("ok.svc", {"10.0.0.8"});
  f.dns->block("stuck.svc", true);
  bool stuck_answered = false;
  f.resolver.resolve("stuck.svc",
                     [&](const absl::StatusOr<AddressList>&) { stuck_answered = true; });
  REQUIRE(f.dns->waitLookups("stuck.svc", 1));
  CHECK(f.get("ok.svc") == "10.0.0.8");
  // Stopping does not wait for the stuck lookup, and its answer reaches nobody.
  auto started = std::chrono::steady_clock::now();
  f.resolver.stop();
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  f.dns->block("stuck.svc", false);
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(stuck_answered);
  bool after_stop = false;
  f.resolver.resolve("ok.svc", [&](const absl::StatusOr<AddressList>&) { after_stop = true; });
  CHECK_FALSE(after_stop);
}

TEST_CASE("names DNS does not answer cannot take the threads of healthy names or of new ones") {
  Fixture f;
  f.dns->set("ok.svc", {"10.0.0.8"});
  CHECK(f.get("ok.svc") == "10.0.0.8");
  auto answered = std::make_shared<std::atomic<int>>(0);
  auto ask = [&f, answered](const std::string& name) {
    f.resolver.resolve(name, [answered](const absl::StatusOr<AddressList>&) { ++*answered; });
  };
  auto waitAnswered = [answered](int n) {
    for (int i = 0; i < 500 && *answered < n; ++i) std::this_thread::sleep_for(10ms);
    return *answered >= n;
  };
  // Two new names whose lookups hang (a DNS that drops their queries)...
  f.dns->block("stuck1.svc", true);
  f.dns->block("stuck2.svc", true);
  ask("stuck1.svc");
  ask("stuck2.svc");
  REQUIRE(f.dns->waitLookups("stuck1.svc", 1));
  REQUIRE(f.dns->waitLookups("stuck2.svc", 1));
  // ... leave a thread to a healthy name's refresh.
  f.dns->set("ok.svc", {"10.0.0.9"});
  f.clock->advance(30s);
  CHECK(f.get("ok.svc", Resolver::IfStale::kWait) == "10.0.0.9");

  // Once they failed, asked again, they share one thread: a new name still finds one.
  f.dns->block("stuck1.svc", false);
  f.dns->block("stuck2.svc", false);
  REQUIRE(waitAnswered(2));
  f.clock->advance(std::chrono::seconds(Resolver::kNegativeSeconds));
  f.dns->block("stuck1.svc", true);
  f.dns->block("stuck2.svc", true);
  ask("stuck1.svc");
  ask("stuck2.svc");
  REQUIRE(f.dns->waitLookups("stuck1.svc", 2));
  f.dns->set("new.svc", {"10.0.0.10"});
  CHECK(f.get("new.svc") == "10.0.0.10");
  CHECK(f.dns->count("stuck2.svc") == 1);  // queued behind stuck1.svc
  f.dns->block("stuck1.svc", false);
  REQUIRE(f.dns->waitLookups("stuck2.svc", 2));
  f.dns->block("stuck2.svc", false);
  CHECK(waitAnswered(4));
  std::lock_guard lock(f.dns->mu);
  CHECK(f.dns->max_running <= Resolver::kMaxThreads);
}

TEST_CASE("withPort sets the port of IPv4 and IPv6 addresses") {
  AddressList a =
      withPort({*parseSocketAddress("10.0.0.5", 0), *parseSocketAddress("::1", 0)}, 5432);
  CHECK(a[0].toString() == "10.0.0.5:5432");
  CHECK(a[1].toString() == "[::1]:5432");
}

TEST_CASE("the system resolver returns every address of a name") {
  auto a = tollgate::sidecar::systemLookup("localhost");
  REQUIRE(a.ok());
  CHECK_FALSE(a->empty());
  CHECK_FALSE(tollgate::sidecar::systemLookup("name.invalid").ok());
}
