// Shared rows of recent type catalog reads (type_catalog_cache.h).
#include "sidecar/postgres/type_catalog_cache.h"

#include <utility>

namespace tollgate::sidecar::postgres {

TypeCatalogCache::Rows TypeCatalogCache::get(const std::string& key, Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || now - it->second.read_at >= ttl_) return nullptr;
  return it->second.rows;
}

void TypeCatalogCache::put(const std::string& key, Rows rows, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_[key] = Entry{std::move(rows), now};
}

void TypeCatalogCache::invalidate(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(key);
}

}  // namespace tollgate::sidecar::postgres
