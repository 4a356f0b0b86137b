// Shared rows of recent type catalog reads (type_catalog_cache.h).
#include "sidecar/postgres/type_catalog_cache.h"

#include <utility>

namespace tollgate::sidecar::postgres {

TypeCatalogCache::Rows TypeCatalogCache::get(const std::string& key, Clock::time_point now,
                                             uint64_t* generation) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (generation != nullptr) *generation = it == entries_.end() ? 0 : it->second.generation;
  if (it == entries_.end() || !it->second.rows || it->second.pending_changes > 0 ||
      now - it->second.read_at >= ttl_) {
    return nullptr;
  }
  return it->second.rows;
}

void TypeCatalogCache::put(const std::string& key, Rows rows, Clock::time_point now,
                           uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = entries_[key];
  // Invalidated while this read ran, or a change may have committed unseen.
  if (e.generation != generation || e.pending_changes > 0) return;
  e.rows = std::move(rows);
  e.read_at = now;
}

TypeCatalogCache::Entry& TypeCatalogCache::dropLocked(const std::string& key) {
  Entry& e = entries_[key];
  e.rows = nullptr;
  ++e.generation;
  return e;
}

void TypeCatalogCache::invalidate(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  dropLocked(key);
}

void TypeCatalogCache::beginChange(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ++dropLocked(key).pending_changes;
}

void TypeCatalogCache::endChange(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = dropLocked(key);
  if (e.pending_changes > 0) --e.pending_changes;
}

}  // namespace tollgate::sidecar::postgres
