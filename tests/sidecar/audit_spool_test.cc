// The sidecar's audit spool: numbering across restarts, acknowledgement, torn tails.
#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <fstream>

#include "sidecar/cp/audit_spool.h"
#include "tests/support/test_support.h"

using tollgate::sidecar::cp::AuditSpool;
using tollgate::testing::TempDir;

namespace {

AuditSpool openOrFail(const std::string& dir, uint64_t compact = 64ull << 20) {
  auto s = AuditSpool::open(dir, compact);
  REQUIRE(s.ok());
  return *std::move(s);
}

void appendN(AuditSpool& s, int n) {
  for (int i = 0; i < n; ++i) {
    uint64_t seq = s.nextSequence();
    REQUIRE(s.append(seq, "event-" + std::to_string(seq)).ok());
  }
  REQUIRE(s.sync().ok());
}

}  // namespace

TEST_CASE("unacknowledged events survive a restart, in order", "[spool]") {
  TempDir dir;
  {
    auto s = openOrFail(dir.path().string());
    CHECK(s.nextSequence() == 1);
    appendN(s, 5);
    REQUIRE(s.acknowledge(2).ok());
    CHECK(s.pending().size() == 3);
  }
  auto s = openOrFail(dir.path().string());
  REQUIRE(s.pending().size() == 3);  // the file still holds 1..5; 3..5 are what matter
  CHECK(s.pending().back().sequence == 5);
  CHECK(s.pending().back().bytes == "event-5");
  CHECK(s.nextSequence() == 6);
}

TEST_CASE("numbering continues after everything was acknowledged and the file emptied", "[spool]") {
  TempDir dir;
  {
    auto s = openOrFail(dir.path().string());
    appendN(s, 4);
    REQUIRE(s.acknowledge(4).ok());
    CHECK(s.pending().empty());
    CHECK(std::filesystem::file_size(dir.path() / "events.spool") == 0);
  }
  auto s = openOrFail(dir.path().string());
  CHECK(s.pending().empty());
  // A restarted sidecar must not reuse 1..4: the control plane would drop them as duplicates.
  CHECK(s.nextSequence() == 5);
}

TEST_CASE("a torn last record from a crash is dropped and appends continue after it", "[spool]") {
  TempDir dir;
  {
    auto s = openOrFail(dir.path().string());
    appendN(s, 3);
  }
  {
    std::ofstream f(dir.path() / "events.spool", std::ios::app | std::ios::binary);
    f.write("\x40\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00half", 16);  // claims 64 bytes
  }
  auto s = openOrFail(dir.path().string());
  CHECK(s.pending().size() == 3);
  CHECK(s.nextSequence() == 4);
  appendN(s, 1);
  auto again = openOrFail((dir.path()).string() + "/");
  CHECK(again.pending().size() == 4);
  CHECK(again.pending().back().bytes == "event-4");
}

TEST_CASE("a grown spool is compacted to its unacknowledged tail", "[spool]") {
  TempDir dir;
  auto s = openOrFail(dir.path().string(), /*compact=*/256);
  appendN(s, 40);
  auto before = std::filesystem::file_size(dir.path() / "events.spool");
  REQUIRE(s.acknowledge(35).ok());
  auto after = std::filesystem::file_size(dir.path() / "events.spool");
  CHECK(after < before / 4);
  auto reopened = openOrFail(dir.path().string());
  REQUIRE(reopened.pending().size() == 5);
  CHECK(reopened.pending().front().sequence == 36);
  CHECK(reopened.nextSequence() == 41);
}

TEST_CASE("out-of-order sequence numbers are refused", "[spool]") {
  TempDir dir;
  auto s = openOrFail(dir.path().string());
  CHECK_FALSE(s.append(2, "x").ok());
  CHECK(s.append(1, "x").ok());
}
