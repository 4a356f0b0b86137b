// Shared rows of recent type catalog reads (type_catalog_cache.h).
#include "sidecar/postgres/type_catalog_cache.h"

#include <utility>

namespace tollgate::sidecar::postgres {

TypeCatalogCache::Rows TypeCatalogCache::get(const std::string& key, Clock::time_point now,
                                             uint64_t* generation) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (generation != nullptr) *generation = it == entries_.end() ? 0 : it->second.generation;
  if (it == entries_.end() || !it->second.rows || now - it->second.read_at >= ttl_) {
    return nullptr;
  }
  return it->second.rows;
}

void TypeCatalogCache::put(const std::string& key, Rows rows, Clock::time_point now,
                           uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[key];
  if (e.generation != generation) return;  // invalidated while this read ran
  e.rows = std::move(rows);
  e.read_at = now;
}

void TypeCatalogCache::invalidate(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[key];
  e.rows = nullptr;
  ++e.generation;
}

}  // namespace tollgate::sidecar::postgres
