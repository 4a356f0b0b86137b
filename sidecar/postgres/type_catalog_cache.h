// The rows of recent type catalog reads (type_catalog.h), shared by the sessions of one sidecar:
// a job that opens many connections to one database pays the catalog query once per TTL, not
// once per connection. Each session still builds its own TypeCatalog from the rows.
#pragma once

#include <chrono>
#include <cstdint>
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
  // `*generation` (when given) receives the key's generation: pass it to put() with the rows
  // read after this call.
  Rows get(const std::string& key, Clock::time_point now, uint64_t* generation = nullptr) const;
  // Stores rows read since get() gave `generation`, unless the key was invalidated meanwhile
  // (the read may predate the change).
  void put(const std::string& key, Rows rows, Clock::time_point now, uint64_t generation);
  // A session changed types (DDL, CALL, DO), or committed such a change: later sessions read
  // the catalog again, and reads already under way are not stored.
  void invalidate(const std::string& key);
  // A session's transaction holds a type change whose end the sidecar has not seen yet (its
  // ReadyForQuery may wait behind a slow client): until the matching endChange(), get()
  // returns nothing and put() stores nothing for `key`. endChange() also invalidates.
  void beginChange(const std::string& key);
  void endChange(const std::string& key);

 private:
  struct Entry {
    Rows rows;  // null after invalidate()
    Clock::time_point read_at;
    uint64_t generation = 0;  // invalidations so far
    int pending_changes = 0;  // beginChange() without endChange()
  };
  // Forgets the rows of `key` and starts its next generation; mu_ held.
  Entry& dropLocked(const std::string& key);

  const Clock::duration ttl_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace tollgate::sidecar::postgres
