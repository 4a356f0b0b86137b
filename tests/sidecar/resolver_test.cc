// The resolver: answers kept for the refresh interval and then looked up again (a DNS change is
// seen), one lookup per name at a time, the last addresses kept through a failure, and no
// caller held by a lookup that does not return (a blackholed DNS).
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

using Catch::Matchers::ContainsSubstring;
using namespace std::chrono_literals;
using tollgate::ManualClock;
using tollgate::sidecar::AddressList;
using tollgate::sidecar::parseSocketAddress;
using tollgate::sidecar::Resolver;
using tollgate::sidecar::withPort;

namespace {

// A DNS the test controls: what each name resolves to, how many lookups it served, and names
// whose lookups block until released.
struct FakeDns {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<std::string>> records;
  std::map<std::string, int> lookups;
  std::map<std::string, bool> blocked;

  absl::StatusOr<AddressList> lookup(const std::string& host) {
    std::unique_lock lock(mu);
    ++lookups[host];
    cv.notify_all();
    cv.wait(lock, [&] { return !blocked[host]; });
    auto it = records.find(host);
    if (it == records.end()) return absl::UnavailableError("cannot resolve " + host);
    AddressList out;
    for (const auto& ip : it->second) out.push_back(*parseSocketAddress(ip, 0));
    return out;
  }
  void set(const std::string& host, std::vector<std::string> ips) {
    std::lock_guard lock(mu);
    records[host] = std::move(ips);
  }
  void block(const std::string& host, bool on) {
    std::lock_guard lock(mu);
    blocked[host] = on;
    cv.notify_all();
  }
  int count(const std::string& host) {
    std::lock_guard lock(mu);
    return lookups[host];
  }
  // Waits until `host` has been looked up `n` times (a lookup started).
  bool waitLookups(const std::string& host, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return lookups[host] >= n; });
  }
};

struct Fixture {
  std::shared_ptr<FakeDns> dns = std::make_shared<FakeDns>();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  Resolver resolver{30s, clock, [dns = dns](const std::string& h) { return dns->lookup(h); }};

  // Resolves and waits for the answer: the addresses as text, or "error: ..." .
  std::string get(const std::string& host) {
    std::promise<absl::StatusOr<AddressList>> p;
    auto f = p.get_future();
    resolver.resolve(host, [&p](absl::StatusOr<AddressList> a) { p.set_value(std::move(a)); });
    if (f.wait_for(5s) != std::future_status::ready) return "no answer";
    auto a = f.get();
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
  CHECK(f.get("db.svc") == "10.0.0.6");
  CHECK(f.dns->count("db.svc") == 2);
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
  {
    std::lock_guard lock(f.dns->mu);
    f.dns->records.erase("db.svc");  // a DNS outage
  }
  f.clock->advance(31s);
  CHECK(f.get("db.svc") == "10.0.0.5");
  CHECK(f.dns->count("db.svc") == 2);

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
