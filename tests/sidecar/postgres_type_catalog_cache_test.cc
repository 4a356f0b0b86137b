// Tests for the catalog rows shared by sessions (type_catalog_cache.h).
#include "sidecar/postgres/type_catalog_cache.h"

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tollgate::sidecar::postgres {
namespace {

using std::chrono::seconds;

TEST_CASE("catalog rows are shared for the TTL, per key, until invalidated") {
  TypeCatalogCache cache(seconds(30));
  const auto t0 = TypeCatalogCache::Clock::now();
  auto rows = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"D..."});
  CHECK(cache.get("db1", t0) == nullptr);
  cache.put("db1", rows, t0);
  CHECK(cache.get("db1", t0 + seconds(29)) == rows);
  CHECK(cache.get("db1", t0 + seconds(30)) == nullptr);  // expired
  CHECK(cache.get("db2", t0) == nullptr);                // another database or user
  cache.put("db1", rows, t0 + seconds(40));
  CHECK(cache.get("db1", t0 + seconds(41)) == rows);
  cache.invalidate("db1");  // a session ran DDL
  CHECK(cache.get("db1", t0 + seconds(41)) == nullptr);
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
