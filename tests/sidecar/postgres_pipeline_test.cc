// The pending-unit FIFO: order, stable addresses while queued, skipToSync, recycled units.
#include <catch2/catch_test_macros.hpp>

#include <vector>

#include "policy/sql/analyzer.h"
#include "sidecar/postgres/pipeline.h"

using tollgate::sidecar::postgres::PendingUnit;
using tollgate::sidecar::postgres::Pipeline;
using Kind = PendingUnit::Kind;

TEST_CASE("units come out in push order and keep their address while queued") {
  Pipeline p;
  std::vector<PendingUnit*> pushed;
  for (int i = 0; i < 100; ++i) {
    PendingUnit& u = p.push(i % 2 ? Kind::kExecute : Kind::kBind);
    u.rows = static_cast<uint64_t>(i);
    pushed.push_back(&u);
  }
  REQUIRE(p.size() == 100);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(p.head() == pushed[static_cast<size_t>(i)]);
    CHECK(p.head()->rows == static_cast<uint64_t>(i));
    p.pop();
  }
  CHECK(p.empty());
  CHECK(p.head() == nullptr);
  p.pop();  // popping an empty pipeline is harmless
}

TEST_CASE("a recycled pending unit carries no state of the statement before it") {
  tollgate::policy::SqlAnalyzer analyzer;
  Pipeline p;
  for (int round = 0; round < 3; ++round) {
    PendingUnit& u = p.push(Kind::kExecute);
    // Everything a fresh unit must not inherit.
    CHECK(u.name.empty());
    CHECK(!u.poisoned);
    CHECK(u.block_message.empty());
    CHECK(u.facts == nullptr);
    CHECK(u.rule.empty());
    CHECK(u.approval_id.empty());
    CHECK(u.approval_message.empty());
    CHECK(u.started_us == 0);
    CHECK(u.rows == 0);
    CHECK(u.values_masked == 0);
    CHECK(u.statement_index == 0);
    CHECK(!u.error);
    u.name = "a portal name longer than the small-string buffer";
    u.poisoned = true;
    u.block_message = "blocked by rule \"no-ddl\"";
    u.facts = analyzer.analyze("select 1");
    u.rule = "no-ddl";
    u.approval_id = "approval-1";
    u.approval_message = "approved by someone";
    u.started_us = 5;
    u.rows = 6;
    u.values_masked = 7;
    u.statement_index = 2;
    u.error = true;
    p.pop();
  }
}

TEST_CASE("a popped unit releases its statement facts at once") {
  tollgate::policy::SqlAnalyzer analyzer(0);  // no cache holding the facts
  Pipeline p;
  std::weak_ptr<const tollgate::policy::QueryFacts> seen;
  {
    PendingUnit& u = p.push(Kind::kQuery);
    u.facts = analyzer.analyze("select 1");
    seen = u.facts;
  }
  REQUIRE(!seen.expired());
  p.pop();
  CHECK(seen.expired());
}

TEST_CASE("skipToSync drops the units before the next Sync, not the Sync") {
  Pipeline p;
  p.push(Kind::kBind);
  p.push(Kind::kExecute);
  p.push(Kind::kClose);
  p.push(Kind::kSync);
  p.push(Kind::kParse);
  std::vector<Kind> dropped;
  p.skipToSync([&](PendingUnit& u) { dropped.push_back(u.kind); });
  CHECK(dropped == std::vector<Kind>{Kind::kBind, Kind::kExecute, Kind::kClose});
  REQUIRE(p.head() != nullptr);
  CHECK(p.head()->kind == Kind::kSync);
  CHECK(p.size() == 2);
}
