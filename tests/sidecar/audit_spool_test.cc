// The sidecar's audit spool: numbering across restarts, acknowledgement, torn tails.
#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// Every pending record's payload, read back from the file in batches of two.
std::vector<std::string> payloads(AuditSpool& s) {
  std::vector<std::string> out;
  uint64_t after = 0;
  while (true) {
    auto records = s.read(after, 1u << 20, 2);
    REQUIRE(records.ok());
    if (records->empty()) return out;
    for (const auto& r : *records) {
      REQUIRE(r.intact);
      CHECK((after == 0 || r.sequence == after + 1));
      after = r.sequence;
      out.emplace_back(r.bytes);
    }
  }
}

}  // namespace

TEST_CASE("unacknowledged events survive a restart, in order", "[spool]") {
  TempDir dir;
  {
    auto s = openOrFail(dir.path().string());
    CHECK(s.nextSequence() == 1);
    appendN(s, 5);
    REQUIRE(s.acknowledge(2).ok());
    CHECK(s.pendingEvents() == 3);
  }
  auto s = openOrFail(dir.path().string());
  REQUIRE(s.pendingEvents() == 3);  // the file still holds 1..5; 3..5 are what matter
  CHECK(s.firstPending() == 3);
  CHECK(payloads(s) == std::vector<std::string>{"event-3", "event-4", "event-5"});
  CHECK(s.nextSequence() == 6);
}

TEST_CASE("numbering continues after everything was acknowledged and the file emptied", "[spool]") {
  TempDir dir;
  {
    auto s = openOrFail(dir.path().string());
    appendN(s, 4);
    REQUIRE(s.acknowledge(4).ok());
    CHECK((s.pendingEvents() == 0));
    CHECK(std::filesystem::file_size(dir.path() / "events.spool") == 0);
  }
  auto s = openOrFail(dir.path().string());
  CHECK((s.pendingEvents() == 0));
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
  CHECK(s.pendingEvents() == 3);
  CHECK(s.nextSequence() == 4);
  appendN(s, 1);
  auto again = openOrFail((dir.path()).string() + "/");
  CHECK(again.pendingEvents() == 4);
  CHECK(payloads(again) == std::vector<std::string>{"event-1", "event-2", "event-3", "event-4"});
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
  REQUIRE(reopened.pendingEvents() == 5);
  CHECK(reopened.firstPending() == 36);
  CHECK(reopened.nextSequence() == 41);
}

TEST_CASE("out-of-order sequence numbers are refused", "[spool]") {
  TempDir dir;
  auto s = openOrFail(dir.path().string());
  CHECK_FALSE(s.append(2, "x").ok());
  CHECK(s.append(1, "x").ok());
}

TEST_CASE("reads come back in batches bounded by bytes and count, from any sequence", "[spool]") {
  TempDir dir;
  auto s = openOrFail(dir.path().string());
  for (int i = 1; i <= 10; ++i) REQUIRE(s.append(s.nextSequence(), std::string(100, 'a' + i)).ok());
  REQUIRE(s.sync().ok());
  auto r = s.read(0, 250, 100);  // two records fit in 250 bytes
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].sequence == 1);
  CHECK((*r)[1].bytes == std::string(100, 'a' + 2));
  r = s.read(7, 1u << 20, 2);  // after 7: 8 and 9
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].sequence == 8);
  CHECK((*r)[1].sequence == 9);
  r = s.read(0, 10, 100);  // a record larger than the byte limit still comes, alone
  REQUIRE(r.ok());
  CHECK(r->size() == 1);
  r = s.read(10, 1u << 20, 100);
  REQUIRE(r.ok());
  CHECK(r->empty());
  REQUIRE(s.acknowledge(9).ok());
  r = s.read(0, 1u << 20, 100);  // acknowledged records are not read again
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].sequence == 10);
}

TEST_CASE("records appended after a compaction are read from their new places", "[spool]") {
  TempDir dir;
  auto s = openOrFail(dir.path().string(), /*compact=*/256);
  appendN(s, 40);
  REQUIRE(s.acknowledge(35).ok());  // compacts: 36..40 move to the front of the file
  appendN(s, 3);
  std::vector<std::string> want;
  for (int i = 36; i <= 43; ++i) want.push_back("event-" + std::to_string(i));
  CHECK(payloads(s) == want);
  auto reopened = openOrFail(dir.path().string());
  CHECK(payloads(reopened) == want);
}

TEST_CASE("a record changed under the spool is reported, not sent as something else", "[spool]") {
  TempDir dir;
  auto s = openOrFail(dir.path().string());
  appendN(s, 3);
  {
    // Overwrite record 2's sequence number in place (records are 12 + 7 bytes).
    std::fstream f(dir.path() / "events.spool", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(19 + 4);
    f.write("\x09", 1);
  }
  auto r = s.read(0, 1u << 20, 100);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].intact);
  CHECK_FALSE((*r)[1].intact);
  CHECK((*r)[1].bytes.empty());
  CHECK((*r)[1].length == 7);  // what is lost, for the record of the loss
  CHECK((*r)[2].bytes == "event-3");
  // Cut short: the records past the end are reported lost, the ones before still read.
  std::filesystem::resize_file(dir.path() / "events.spool", 19 + 10);
  r = s.read(0, 1u << 20, 100);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].bytes == "event-1");
  CHECK_FALSE((*r)[1].intact);
  CHECK_FALSE((*r)[2].intact);
}
