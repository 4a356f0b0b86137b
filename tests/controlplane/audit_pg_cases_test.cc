// The shared audit store behaviours (audit_backend_cases.h) on SQLite and on a real PostgreSQL.
#include <catch2/catch_test_macros.hpp>

#include "tests/controlplane/audit_pg_testing.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::backendCases;

TEST_CASE("shared audit store behaviours on SQLite") {
  for (const auto& [name, run] : backendCases()) {
    DYNAMIC_SECTION("sqlite: " << name) {
      testing::SqliteBackend backend;
      run(backend);
    }
  }
}

TEST_CASE("shared audit store behaviours on PostgreSQL") {
  for (const auto& [name, run] : backendCases()) {
    DYNAMIC_SECTION("postgres: " << name) {
      testing::PgBackend backend;
      run(backend);
    }
  }
}

}  // namespace
}  // namespace tollgate::controlplane::audit
