// The rows of recent type catalog reads (type_catalog.h), shared by the sessions of one sidecar:
// a job that opens many connections to one database pays the catalog query once per TTL, not
// once per connection. Each session still builds its own TypeCatalog from the rows.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tollgate::sidecar::postgres {

class TypeCatalogCache {
 public:
  using Clock = std::chrono::steady_clock;
  // The DataRow messages of one catalog read, whole (type byte and length included).
  using Rows = std::shared_ptr<const std::vector<std::string>>;

  // Rows older than `ttl` are not returned: a type created since then by another session is
  // seen by sessions that start after it.
  explicit TypeCatalogCache(Clock::duration ttl) : ttl_(ttl) {}

  // The rows read for `key` (resource, database, upstream user) less than the TTL ago, or null.
  Rows get(const std::string& key, Clock::time_point now) const;
  void put(const std::string& key, Rows rows, Clock::time_point now);
  // A session changed types (DDL, CALL, DO): later sessions read the catalog again.
  void invalidate(const std::string& key);

 private:
  struct Entry {
    Rows rows;
    Clock::time_point read_at;
  };
  const Clock::duration ttl_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace tollgate::sidecar::postgres
