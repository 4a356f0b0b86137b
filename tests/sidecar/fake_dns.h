// A DNS tests control, for Resolver's LookupFn: what each name resolves to, how many lookups it
// served, and names whose lookups block until the test releases them.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/network/address.h"
#include "sidecar/network/resolver.h"

namespace tollgate::sidecar::testing {

struct FakeDns {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<std::string>> records;
  std::map<std::string, int> lookups;  // started, by name
  std::map<std::string, bool> blocked;
  int running = 0;      // lookups in progress now
  int max_running = 0;  // the most there ever were at once

  absl::StatusOr<AddressList> lookup(const std::string& host) {
    std::unique_lock lock(mu);
    ++lookups[host];
    max_running = std::max(max_running, ++running);
    cv.notify_all();
    cv.wait(lock, [&] { return !blocked[host]; });
    --running;
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
  void erase(const std::string& host) {
    std::lock_guard lock(mu);
    records.erase(host);
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
  // Waits (5 s at most) until `host` has been looked up `n` times (a lookup started).
  bool waitLookups(const std::string& host, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return lookups[host] >= n; });
  }
};

// A LookupFn on `dns`, which it keeps alive: a lookup thread may outlive the test's resolver.
inline LookupFn lookupOn(std::shared_ptr<FakeDns> dns) {
  return [dns = std::move(dns)](const std::string& host) { return dns->lookup(host); };
}

}  // namespace tollgate::sidecar::testing
