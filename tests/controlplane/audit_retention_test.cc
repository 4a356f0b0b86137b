// Retention: whole old ranges are deleted under a signed retention checkpoint; verify still passes.
#include <catch2/catch_test_macros.hpp>

#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::kBaseSeconds;
using testing::kinds;
using testing::makeEvents;
using testing::openStore;
using testing::RawDb;
using testing::verifyAll;

// makeEvent(i) is at kBaseSeconds + 60 * i.
std::chrono::system_clock::time_point minute(int i) {
  return std::chrono::system_clock::from_time_t(kBaseSeconds + 60 * i);
}

TEST_CASE("retention deletes the old prefix and verify reports the pruned range") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string(), 4);
  REQUIRE(store->append(makeEvents(1, 10)).ok());
  auto pruned = store->pruneBefore(minute(7));
  REQUIRE(pruned.ok());
  CHECK(pruned->first_pruned == 1);
  CHECK(pruned->last_pruned == 6);
  CHECK(store->get(6).status().code() == absl::StatusCode::kNotFound);
  CHECK(store->get(7).ok());
  SearchFilter rule;
  rule.rule_id = "no-ddl";  // events 4 and 8 carry it; 4 is gone with its side-table row
  CHECK(store->search(rule)->events_size() == 1);

  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.pruned_through == 6);
  CHECK(r.records_checked == 4);

  REQUIRE(store->append(makeEvents(11, 2)).ok());
  CHECK(verifyAll(*store).ok);
  // Pruning again continues from the first remaining record.
  auto again = store->pruneBefore(minute(9));
  REQUIRE(again.ok());
  CHECK(again->first_pruned == 7);
  CHECK(again->last_pruned == 8);
  CHECK(verifyAll(*store).pruned_through == 8);
  CHECK(store->pruneBefore(minute(9))->first_pruned == 0);  // nothing older left
}

TEST_CASE("a newer record stops retention even if later records are older") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  auto events = makeEvents(1, 6);
  events[2].mutable_time()->set_seconds(kBaseSeconds + 60 * 100);  // seq 3 is new
  REQUIRE(store->append(events).ok());
  auto pruned = store->pruneBefore(minute(50));
  REQUIRE(pruned.ok());
  CHECK(pruned->last_pruned == 2);
  CHECK(verifyAll(*store).ok);
}

TEST_CASE("pruning everything keeps the chain anchored across a restart") {
  tollgate::testing::TempDir dir;
  {
    auto store = openStore(dir.path().string());
    REQUIRE(store->append(makeEvents(1, 5)).ok());
    CHECK(store->pruneBefore(minute(100))->last_pruned == 5);
  }
  auto store = openStore(dir.path().string());
  CHECK(store->headSequence() == 5);
  CHECK(store->append(makeEvents(6, 2))->sequences == std::vector<uint64_t>{6, 7});
  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.pruned_through == 5);
}

TEST_CASE("records deleted beyond the retention checkpoint are still reported missing") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  REQUIRE(store->append(makeEvents(1, 8)).ok());
  REQUIRE(store->pruneBefore(minute(4)).ok());  // 1..3
  RawDb(store->databasePath()).exec("DELETE FROM audit_records WHERE seq = 4");
  CHECK(kinds(verifyAll(*store)) ==
        std::vector<std::pair<uint64_t, ProblemKind>>{{4, ProblemKind::kMissing}});
}

}  // namespace
}  // namespace tollgate::controlplane::audit
