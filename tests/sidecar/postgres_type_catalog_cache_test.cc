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
  uint64_t gen = 99;
  CHECK(cache.get("db1", t0, &gen) == nullptr);
  CHECK(gen == 0);
  cache.put("db1", rows, t0, gen);
  CHECK(cache.get("db1", t0 + seconds(29)) == rows);
  CHECK(cache.get("db1", t0 + seconds(30)) == nullptr);  // expired
  CHECK(cache.get("db2", t0) == nullptr);                // another database or user
  cache.put("db1", rows, t0 + seconds(40), gen);
  CHECK(cache.get("db1", t0 + seconds(41)) == rows);
  cache.invalidate("db1");  // a session ran DDL
  CHECK(cache.get("db1", t0 + seconds(41), &gen) == nullptr);
  CHECK(gen == 1);
}

// Red-team round 10: a login whose catalog read was under way when another session's DDL
// committed stored the old catalog after the invalidation.
TEST_CASE("a catalog read that an invalidation overtook is not stored") {
  TypeCatalogCache cache(seconds(30));
  const auto t0 = TypeCatalogCache::Clock::now();
  auto rows = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"D..."});
  uint64_t gen = 0;
  CHECK(cache.get("db1", t0, &gen) == nullptr);  // a login starts its read
  cache.invalidate("db1");                       // DDL commits meanwhile
  cache.put("db1", rows, t0, gen);               // the read ends: older than the DDL
  CHECK(cache.get("db1", t0) == nullptr);
  CHECK(cache.get("db1", t0, &gen) == nullptr);  // the next login reads again
  cache.put("db1", rows, t0, gen);
  CHECK(cache.get("db1", t0) == rows);
}

// Red-team round 11: a DDL session whose ReadyForQuery waited behind a slow client had
// committed on the server while other logins still took the old catalog.
TEST_CASE("no catalog is shared while a session holds a type change") {
  TypeCatalogCache cache(seconds(30));
  const auto t0 = TypeCatalogCache::Clock::now();
  auto rows = std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"D..."});
  uint64_t gen = 0;
  cache.get("db1", t0, &gen);
  cache.put("db1", rows, t0, gen);
  cache.beginChange("db1");  // DDL in an open transaction
  CHECK(cache.get("db1", t0, &gen) == nullptr);
  cache.put("db1", rows, t0, gen);  // a login meanwhile reads and tries to share
  CHECK(cache.get("db1", t0) == nullptr);
  cache.endChange("db1");  // the transaction ended (ReadyForQuery, or the session ended)
  CHECK(cache.get("db1", t0, &gen) == nullptr);
  cache.put("db1", rows, t0, gen);
  CHECK(cache.get("db1", t0) == rows);
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
