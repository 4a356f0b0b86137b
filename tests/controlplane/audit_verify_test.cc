// Tamper detection: every kind of edit to the SQLite file is reported by verify, exactly.
#include <catch2/catch_test_macros.hpp>

#include "controlplane/audit/chain.h"
#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::kinds;
using testing::makeEvents;
using testing::openStore;
using testing::RawDb;
using testing::verifyAll;
using Kinds = std::vector<std::pair<uint64_t, ProblemKind>>;

// A store with records 1..10 and no checkpoint (checkpoint_every = 0) unless a test adds one.
struct Fixture {
  tollgate::testing::TempDir dir;
  std::unique_ptr<SqliteAuditStore> store = openStore(dir.path().string(), 0);
  Fixture() { REQUIRE(store->append(makeEvents(1, 10)).ok()); }
  std::string db() const { return store->databasePath(); }
};

TEST_CASE("verify passes on an untouched store") {
  Fixture f;
  REQUIRE(f.store->checkpoint().value() == 10);
  VerifyReport r = verifyAll(*f.store);
  CHECK(r.ok);
  CHECK(r.problems.empty());
  CHECK(r.records_checked == 10);
  CHECK(r.checkpoints_checked == 1);
}

TEST_CASE("changed payload is reported as changed at that record only") {
  Fixture f;
  v1::AuditEvent forged = makeEvents(5, 1)[0];
  forged.mutable_identity()->set_principal_id("someone-else");
  std::string bytes = encodeRecord(forged, 5).value();
  RawDb(f.db()).execBlob("UPDATE audit_records SET payload = ? WHERE seq = 5", bytes);
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{5, ProblemKind::kChanged}});
}

TEST_CASE("flipped byte in a payload is reported as changed") {
  Fixture f;
  RawDb raw(f.db());
  std::string bytes = raw.queryBlob("SELECT payload FROM audit_records WHERE seq = 7");
  bytes[bytes.size() / 2] ^= 0x01;
  raw.execBlob("UPDATE audit_records SET payload = ? WHERE seq = 7", bytes);
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{7, ProblemKind::kChanged}});
}

TEST_CASE("edited search column is reported as changed") {
  Fixture f;
  RawDb(f.db()).exec("UPDATE audit_records SET principal_id = 'hidden' WHERE seq = 3");
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{3, ProblemKind::kChanged}});
}

TEST_CASE("deleted record in the middle is reported as missing") {
  Fixture f;
  RawDb(f.db()).exec("DELETE FROM audit_records WHERE seq IN (5, 6)");
  VerifyReport r = verifyAll(*f.store);
  CHECK(kinds(r) == Kinds{{5, ProblemKind::kMissing}});
  CHECK(r.problems[0].what.find("5..6") != std::string::npos);
}

TEST_CASE("deleted first record without a retention checkpoint is reported as missing") {
  Fixture f;
  RawDb(f.db()).exec("DELETE FROM audit_records WHERE seq = 1");
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{1, ProblemKind::kMissing}});
}

TEST_CASE("swapped sequence numbers are reported as reordered") {
  Fixture f;
  RawDb(f.db()).exec(
      "UPDATE audit_records SET seq = -1 WHERE seq = 3;"
      "UPDATE audit_records SET seq = 3 WHERE seq = 4;"
      "UPDATE audit_records SET seq = 4 WHERE seq = -1;");
  CHECK(kinds(verifyAll(*f.store)) ==
        Kinds{{3, ProblemKind::kReordered}, {4, ProblemKind::kReordered}});
}

TEST_CASE("truncated tail below a checkpoint is reported as truncated") {
  Fixture f;
  REQUIRE(f.store->checkpoint().value() == 10);
  RawDb(f.db()).exec("DELETE FROM audit_records WHERE seq >= 8");
  VerifyReport r = verifyAll(*f.store);
  CHECK(kinds(r) == Kinds{{8, ProblemKind::kTruncated}});
  CHECK(r.problems[0].what.find("8..10") != std::string::npos);
}

TEST_CASE("truncated store refuses appends after a restart") {
  Fixture f;
  REQUIRE(f.store->checkpoint().ok());
  std::string dir = f.dir.path().string();
  f.store.reset();
  RawDb(dir + "/audit.db").exec("DELETE FROM audit_records WHERE seq >= 8");
  auto store = openStore(dir, 0);
  auto appended = store->append(makeEvents(11, 1));
  CHECK(appended.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(kinds(verifyAll(*store)) == Kinds{{8, ProblemKind::kTruncated}});
}

TEST_CASE("rewritten chain after a change is caught by the checkpoint") {
  Fixture f;
  REQUIRE(f.store->checkpoint().value() == 10);
  // The attacker changes record 5 and recomputes every hash after it.
  RawDb raw(f.db());
  Hash prev =
      hashFromBytes(raw.queryBlob("SELECT record_hash FROM audit_records WHERE seq = 4")).value();
  for (int seq = 5; seq <= 10; ++seq) {
    const std::string where = " WHERE seq = " + std::to_string(seq);
    v1::AuditEvent e = makeEvents(seq, 1)[0];
    if (seq == 5) e.mutable_action()->set_statement("SELECT 1");
    std::string bytes = encodeRecord(e, static_cast<uint64_t>(seq)).value();
    Hash h = chainHash(prev, bytes);
    raw.execBlob("UPDATE audit_records SET payload = ?" + where, bytes);
    raw.execBlob("UPDATE audit_records SET prev_hash = ?" + where, std::string(hashBytes(prev)));
    raw.execBlob("UPDATE audit_records SET record_hash = ?" + where, std::string(hashBytes(h)));
    if (seq == 5) raw.exec("UPDATE audit_records SET text = 'SELECT 1'" + where);
    prev = h;
  }
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{10, ProblemKind::kCheckpointMismatch}});
}

TEST_CASE("tampered checkpoint signature is reported as bad signature") {
  Fixture f;
  REQUIRE(f.store->checkpoint().ok());
  RawDb raw(f.db());
  std::string sig = raw.queryBlob("SELECT signature FROM audit_checkpoints");
  REQUIRE(sig.size() == 64);
  sig[0] ^= 0x40;
  raw.execBlob("UPDATE audit_checkpoints SET signature = ?", sig);
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{10, ProblemKind::kBadSignature}});
}

TEST_CASE("checkpoint moved to another sequence is reported as bad signature") {
  Fixture f;
  REQUIRE(f.store->checkpoint().ok());
  RawDb(f.db()).exec("UPDATE audit_checkpoints SET up_to_seq = 20");
  CHECK(kinds(verifyAll(*f.store)) == Kinds{{20, ProblemKind::kBadSignature}});
}

TEST_CASE("update and delete through SQL are refused by the append-only triggers") {
  Fixture f;
  REQUIRE(f.store->checkpoint().ok());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.db().c_str(), &db) == SQLITE_OK);
  for (const char* sql :
       {"UPDATE audit_records SET text = 'x' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 2", "DELETE FROM audit_checkpoints"}) {
    INFO(sql);
    CHECK(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_CONSTRAINT);
  }
  sqlite3_close(db);
  CHECK(verifyAll(*f.store).ok);
}

TEST_CASE("verify of a range checks only that range") {
  Fixture f;
  RawDb(f.db()).exec("DELETE FROM audit_records WHERE seq = 9");
  VerifyReport head = verifyAll(*f.store);
  auto part = f.store->verify(2, 6);
  REQUIRE(part.ok());
  CHECK(part->ok);
  CHECK(part->records_checked == 5);
  CHECK(kinds(head) == Kinds{{9, ProblemKind::kMissing}});
  auto tail = f.store->verify(8, 10);
  REQUIRE(tail.ok());
  CHECK(kinds(*tail) == Kinds{{9, ProblemKind::kMissing}});
}

}  // namespace
}  // namespace tollgate::controlplane::audit
