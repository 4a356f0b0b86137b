// Audit store behaviours every backend must show, written once against a Backend (a store under
// test plus raw SQL access for tampering) and run for SQLite and PostgreSQL.
#pragma once

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/audit/chain.h"
#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit::testing {

// One fresh, empty trail on one backend.
class Backend {
 public:
  virtual ~Backend() = default;
  // Opens the trail: again after a reset() it is a restart, while another store is open it is
  // a second replica (PostgreSQL only).
  virtual AuditStorePtr open(uint64_t checkpoint_every = 1000, ClockPtr clock = nullptr) = 0;
  // Raw SQL with the append-only triggers off, as someone with write access to the database.
  // `?` in execBlob stands for the one blob parameter.
  virtual void exec(const std::string& sql) = 0;
  virtual void execBlob(const std::string& sql, const std::string& blob) = 0;
  virtual std::string queryBlob(const std::string& sql) = 0;
  virtual int64_t queryInt(const std::string& sql) = 0;
  // Runs `sql` with the triggers on, as the store's own role would; false when refused.
  virtual bool tryExecGuarded(const std::string& sql) = 0;
  // Replaces the signing key with a new one (the next open() loads it).
  virtual void replaceKey() = 0;
};
using BackendFactory = std::function<std::unique_ptr<Backend>()>;

using Kinds = std::vector<std::pair<uint64_t, ProblemKind>>;

inline std::vector<uint64_t> sequencesOf(const v1::SearchAuditResponse& r) {
  std::vector<uint64_t> out;
  for (const auto& e : r.events()) out.push_back(e.sequence());
  return out;
}

// makeEvent(i) is at kBaseSeconds + 60 * i.
inline std::chrono::system_clock::time_point minute(int i) {
  return std::chrono::system_clock::from_time_t(kBaseSeconds + 60 * i);
}

// --- append, dedup, search, export ---

inline void appendLinksRecords(Backend& b) {
  auto store = b.open();
  CHECK(store->append(makeEvents(1, 3))->sequences == std::vector<uint64_t>{1, 2, 3});
  CHECK(store->append(makeEvents(4, 2))->sequences == std::vector<uint64_t>{4, 5});
  CHECK(store->headSequence() == 5);
  CHECK(store->get(1)->prev_hash() == hashHex(kZeroHash));
  for (uint64_t s = 1; s < 5; ++s) {
    auto a = store->get(s);
    auto next = store->get(s + 1);
    REQUIRE(a.ok());
    REQUIRE(next.ok());
    CHECK(next->prev_hash() == a->record_hash());
    std::string bytes = encodeRecord(*a, s).value();
    CHECK(a->record_hash() == hashHex(chainHash(hashFromHex(a->prev_hash()).value(), bytes)));
  }
  CHECK(store->get(3)->identity().principal_id() == makeEvent(3).identity().principal_id());
  CHECK(store->get(6).status().code() == absl::StatusCode::kNotFound);
}

inline void chainContinuesAcrossRestart(Backend& b) {
  REQUIRE(b.open()->append(makeEvents(1, 4)).ok());
  auto store = b.open();
  CHECK(store->headSequence() == 4);
  CHECK(store->append(makeEvents(5, 2))->sequences == std::vector<uint64_t>{5, 6});
  CHECK(verifyAll(*store).ok);
}

inline void missingTimeFromClock(Backend& b) {
  auto clock = std::make_shared<ManualClock>(std::chrono::system_clock::from_time_t(1700000000));
  auto store = b.open(1000, clock);
  v1::AuditEvent e = makeEvent(1);
  e.clear_time();
  REQUIRE(store->append({e}).ok());
  CHECK(store->get(1)->time().seconds() == 1700000000);
}

inline void searchFiltersMatchExactly(Backend& b) {
  auto store = b.open();
  std::vector<v1::AuditEvent> events = makeEvents(1, 40);
  events[6].mutable_action()->set_statement("SELECT 100% FROM t_x");   // seq 7
  events[7].mutable_action()->set_detail("policy version 7 applied");  // seq 8
  events[8].mutable_action()->set_detail("s_lect");                    // seq 9
  events[9].mutable_action()->set_statement("SELECT 1000 FROM t");     // seq 10
  REQUIRE(store->append(events).ok());
  auto f = [](auto fill) {
    SearchFilter filter;
    filter.limit = 1000;
    fill(filter);
    return filter;
  };
  const int64_t base_us = kBaseSeconds * 1000000;
  using Expect = std::function<bool(const v1::AuditEvent&)>;
  const std::vector<std::tuple<const char*, SearchFilter, Expect>> cases = {
      {"principal", f([](SearchFilter& s) { s.principal_id = "principal-1"; }),
       [](const auto& e) { return e.identity().principal_id() == "principal-1"; }},
      {"subject", f([](SearchFilter& s) { s.subject = "system:serviceaccount:ci:job-0"; }),
       [](const auto& e) { return e.identity().subject() == "system:serviceaccount:ci:job-0"; }},
      {"resource", f([](SearchFilter& s) { s.resource = "ledger-db"; }),
       [](const auto& e) { return e.location().resource() == "ledger-db"; }},
      {"session", f([](SearchFilter& s) { s.session_id = "sess-2"; }),
       [](const auto& e) { return e.location().session_id() == "sess-2"; }},
      {"decision", f([](SearchFilter& s) { s.decision = v1::DECISION_BLOCK; }),
       [](const auto& e) { return e.reason().decision() == v1::DECISION_BLOCK; }},
      {"rule", f([](SearchFilter& s) { s.rule_id = "no-ddl"; }),
       [](const auto& e) { return e.reason().rule_ids(0) == "no-ddl"; }},
      {"types", f([](SearchFilter& s) { s.types = {v1::EVENT_SESSION_START}; }),
       [](const auto& e) { return e.type() == v1::EVENT_SESSION_START; }},
      {"time window", f([&](SearchFilter& s) {
         s.from_us = base_us + 10 * 60000000LL;
         s.to_us = base_us + 20 * 60000000LL;
       }),
       [](const auto& e) {
         const int64_t t = e.time().seconds();
         return t >= kBaseSeconds + 600 && t < kBaseSeconds + 1200;
       }},
      {"text substring", f([](SearchFilter& s) { s.text = "cards_1 "; }),
       [](const auto& e) { return e.action().statement().find("cards_1 ") != std::string::npos; }},
      {"text is ASCII case-insensitive", f([](SearchFilter& s) { s.text = "VERSION 7"; }),
       [](const auto& e) { return e.sequence() == 8; }},
      {"percent is literal", f([](SearchFilter& s) { s.text = "100%"; }),
       [](const auto& e) { return e.sequence() == 7; }},
      {"underscore is literal", f([](SearchFilter& s) { s.text = "s_lect"; }),
       [](const auto& e) { return e.sequence() == 9; }},
      {"combined", f([](SearchFilter& s) {
         s.resource = "payments-db";
         s.decision = v1::DECISION_BLOCK;
       }),
       [](const auto& e) {
         return e.location().resource() == "payments-db" &&
                e.reason().decision() == v1::DECISION_BLOCK;
       }},
  };
  for (const auto& [name, filter, expect] : cases) {
    INFO(name);
    auto result = store->search(filter);
    REQUIRE(result.ok());
    std::vector<uint64_t> expected;
    for (uint64_t s = 1; s <= 40; ++s) {
      if (expect(store->get(s).value())) expected.push_back(s);
    }
    CHECK(!expected.empty());
    CHECK(sequencesOf(*result) == expected);
    CHECK(result->next_page_token().empty());
  }
}

inline void pagesFollowEachOther(Backend& b) {
  auto store = b.open();
  REQUIRE(store->append(makeEvents(1, 250)).ok());
  v1::SearchAuditRequest request;
  std::vector<uint64_t> seen;
  int pages = 0;
  do {
    auto filter = searchFilterFromProto(request);
    REQUIRE(filter.ok());
    auto page = store->search(*filter);
    REQUIRE(page.ok());
    ++pages;
    CHECK(page->events_size() <= 100);
    for (uint64_t s : sequencesOf(*page)) seen.push_back(s);
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  CHECK(pages == 3);
  REQUIRE(seen.size() == 250);
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
}

inline void exportStreamsAndStops(Backend& b) {
  auto store = b.open();
  REQUIRE(store->append(makeEvents(1, 700)).ok());
  SearchFilter filter;
  filter.resource = "payments-db";
  std::vector<uint64_t> seen;
  REQUIRE(store
              ->exportRecords(filter,
                              [&](const v1::AuditEvent& e) {
                                seen.push_back(e.sequence());
                                return absl::OkStatus();
                              })
              .ok());
  REQUIRE(seen.size() == 350);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] > seen[i - 1]);
  int calls = 0;
  absl::Status st = store->exportRecords(SearchFilter{}, [&](const v1::AuditEvent&) {
    return ++calls == 300 ? absl::CancelledError("client went away") : absl::OkStatus();
  });
  CHECK(st.code() == absl::StatusCode::kCancelled);
  CHECK(calls == 300);
}

inline void replayedBatchIgnored(Backend& b) {
  auto store = b.open();
  std::vector<v1::AuditEvent> batch;
  for (int i = 1; i <= 3; ++i) batch.push_back(makeEvent(i, "sidecar/pod-a", 100 + i));
  REQUIRE(store->append(batch).ok());
  // Another sidecar may reuse the same source_sequence values.
  REQUIRE(store->append({makeEvent(9, "sidecar/pod-b", 101)})->duplicate ==
          std::vector<bool>{false});
  store = b.open();  // restart; the sidecar replays its unacked spool plus one new event
  batch.push_back(makeEvent(4, "sidecar/pod-a", 104));
  auto replay = store->append(batch);
  REQUIRE(replay.ok());
  CHECK(replay->sequences == std::vector<uint64_t>{1, 2, 3, 5});
  CHECK(replay->duplicate == std::vector<bool>{true, true, true, false});
  CHECK(store->headSequence() == 5);
}

inline void storedThroughSequencePerSource(Backend& b) {
  auto store = b.open();
  CHECK(store->storedThroughSequence("sidecar/ns/pod-a/uid-a").value() == 0);
  std::vector<v1::AuditEvent> batch;
  for (int i = 1; i <= 4; ++i) batch.push_back(makeEvent(i, "sidecar/ns/pod-a/uid-a", i));
  batch.push_back(makeEvent(5, "sidecar/ns/pod-b/uid-b", 9));
  batch.push_back(makeEvent(6, "sidecar/ns/pod-a/uid-a"));  // no source_sequence
  REQUIRE(store->append(batch).ok());
  CHECK(store->storedThroughSequence("sidecar/ns/pod-a/uid-a").value() == 4);
  CHECK(store->storedThroughSequence("sidecar/ns/pod-a").value() == 0);  // exact match only
  // pod-b has only 9: 1..8 are missing, so nothing may be acknowledged for it (an older
  // sidecar could leave such a gap, and would then drop the missing events from its spool).
  CHECK(store->storedThroughSequence("sidecar/ns/pod-b/uid-b").value() == 0);
  std::vector<v1::AuditEvent> rest;
  for (int i = 1; i <= 8; ++i) rest.push_back(makeEvent(6 + i, "sidecar/ns/pod-b/uid-b", i));
  REQUIRE(store->append(rest).ok());
  CHECK(store->storedThroughSequence("sidecar/ns/pod-b/uid-b").value() == 9);
  // After a restart.
  store = b.open();
  CHECK(store->storedThroughSequence("sidecar/ns/pod-a/uid-a").value() == 4);
}

inline void duplicateInsideBatchStoredOnce(Backend& b) {
  auto store = b.open();
  auto r = store->append({makeEvent(1, "sidecar/p", 7), makeEvent(1, "sidecar/p", 7)});
  REQUIRE(r.ok());
  CHECK(r->sequences == std::vector<uint64_t>{1, 1});
  CHECK(r->duplicate == std::vector<bool>{false, true});
  auto plain = store->append({makeEvent(1), makeEvent(1)});  // no source_sequence: no dedup
  REQUIRE(plain.ok());
  CHECK(plain->sequences == std::vector<uint64_t>{2, 3});
}

inline void oversizedEventFailsWholeBatch(Backend& b) {
  auto store = b.open();
  std::vector<v1::AuditEvent> batch = makeEvents(1, 2);
  batch[1].mutable_action()->set_detail(std::string(kMaxRecordBytes, 'x'));
  CHECK(store->append(batch).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store->headSequence() == 0);
  CHECK(store->append(makeEvents(1, 1))->sequences == std::vector<uint64_t>{1});
  CHECK(verifyAll(*store).ok);
}

inline void periodicCheckpointEveryN(Backend& b) {
  auto store = b.open(10);
  REQUIRE(store->append(makeEvents(1, 7)).ok());
  REQUIRE(store->append(makeEvents(8, 18)).ok());  // to 25
  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.checkpoints_checked == 2);
  CHECK(b.queryInt("SELECT COUNT(*) FROM audit_checkpoints") == 2);
  CHECK(b.queryInt("SELECT MAX(up_to_seq) FROM audit_checkpoints") == 20);
  store = b.open(10);  // the counter survives a restart: 5 more reach the next one at 30
  REQUIRE(store->append(makeEvents(26, 5)).ok());
  CHECK(b.queryInt("SELECT MAX(up_to_seq) FROM audit_checkpoints") == 30);
}

inline void otherKeyCheckpointsAreBadSignatures(Backend& b) {
  REQUIRE(b.open(5)->append(makeEvents(1, 10)).ok());
  b.replaceKey();
  auto store = b.open(5);
  CHECK(kinds(verifyAll(*store)) ==
        Kinds{{5, ProblemKind::kBadSignature}, {10, ProblemKind::kBadSignature}});
}

// --- tamper detection (records 1..10, no periodic checkpoint) ---

inline AuditStorePtr tenRecords(Backend& b) {
  auto store = b.open(0);
  REQUIRE(store->append(makeEvents(1, 10)).ok());
  return store;
}

inline void untouchedStoreVerifies(Backend& b) {
  auto store = tenRecords(b);
  REQUIRE(store->checkpoint().value() == 10);
  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.records_checked == 10);
  CHECK(r.checkpoints_checked == 1);
}

inline void changedPayloadIsChanged(Backend& b) {
  auto store = tenRecords(b);
  v1::AuditEvent forged = makeEvents(5, 1)[0];
  forged.mutable_identity()->set_principal_id("someone-else");
  b.execBlob("UPDATE audit_records SET payload = ? WHERE seq = 5", encodeRecord(forged, 5).value());
  std::string bytes = b.queryBlob("SELECT payload FROM audit_records WHERE seq = 7");
  bytes[bytes.size() / 2] ^= 0x01;
  b.execBlob("UPDATE audit_records SET payload = ? WHERE seq = 7", bytes);
  CHECK(kinds(verifyAll(*store)) == Kinds{{5, ProblemKind::kChanged}, {7, ProblemKind::kChanged}});
}

inline void editedSearchColumnIsChanged(Backend& b) {
  auto store = tenRecords(b);
  b.exec("UPDATE audit_records SET principal_id = 'hidden' WHERE seq = 3");
  CHECK(kinds(verifyAll(*store)) == Kinds{{3, ProblemKind::kChanged}});
}

inline void deletedRecordsAreMissing(Backend& b) {
  auto store = tenRecords(b);
  b.exec("DELETE FROM audit_records WHERE seq IN (5, 6)");
  VerifyReport r = verifyAll(*store);
  CHECK(kinds(r) == Kinds{{5, ProblemKind::kMissing}});
  CHECK(r.problems[0].what.find("5..6") != std::string::npos);
  b.exec("DELETE FROM audit_records WHERE seq = 1");
  CHECK(kinds(verifyAll(*store)) == Kinds{{1, ProblemKind::kMissing}, {5, ProblemKind::kMissing}});
}

inline void swappedSequencesAreReordered(Backend& b) {
  auto store = tenRecords(b);
  b.exec("UPDATE audit_records SET seq = -1 WHERE seq = 3");
  b.exec("UPDATE audit_records SET seq = 3 WHERE seq = 4");
  b.exec("UPDATE audit_records SET seq = 4 WHERE seq = -1");
  CHECK(kinds(verifyAll(*store)) ==
        Kinds{{3, ProblemKind::kReordered}, {4, ProblemKind::kReordered}});
}

inline void truncatedTailRefusesAppends(Backend& b) {
  auto store = tenRecords(b);
  REQUIRE(store->checkpoint().value() == 10);
  b.exec("DELETE FROM audit_records WHERE seq >= 8");
  VerifyReport r = verifyAll(*store);
  CHECK(kinds(r) == Kinds{{8, ProblemKind::kTruncated}});
  CHECK(r.problems[0].what.find("8..10") != std::string::npos);
  store.reset();
  store = b.open(0);
  CHECK(store->append(makeEvents(11, 1)).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(kinds(verifyAll(*store)) == Kinds{{8, ProblemKind::kTruncated}});
}

inline void rewrittenChainCaughtByCheckpoint(Backend& b) {
  auto store = tenRecords(b);
  REQUIRE(store->checkpoint().value() == 10);
  // Record 5 changed and every hash after it recomputed.
  Hash prev =
      hashFromBytes(b.queryBlob("SELECT record_hash FROM audit_records WHERE seq = 4")).value();
  for (int seq = 5; seq <= 10; ++seq) {
    const std::string where = " WHERE seq = " + std::to_string(seq);
    v1::AuditEvent e = makeEvents(seq, 1)[0];
    if (seq == 5) e.mutable_action()->set_statement("SELECT 1");
    std::string bytes = encodeRecord(e, static_cast<uint64_t>(seq)).value();
    Hash h = chainHash(prev, bytes);
    b.execBlob("UPDATE audit_records SET payload = ?" + where, bytes);
    b.execBlob("UPDATE audit_records SET prev_hash = ?" + where, std::string(hashBytes(prev)));
    b.execBlob("UPDATE audit_records SET record_hash = ?" + where, std::string(hashBytes(h)));
    if (seq == 5) b.exec("UPDATE audit_records SET text = 'SELECT 1'" + where);
    prev = h;
  }
  CHECK(kinds(verifyAll(*store)) == Kinds{{10, ProblemKind::kCheckpointMismatch}});
}

inline void forgedCheckpointsAreBadSignatures(Backend& b) {
  auto store = tenRecords(b);
  REQUIRE(store->checkpoint().ok());
  std::string sig = b.queryBlob("SELECT signature FROM audit_checkpoints");
  REQUIRE(sig.size() == 64);
  sig[0] ^= 0x40;
  b.execBlob("UPDATE audit_checkpoints SET signature = ?", sig);
  CHECK(kinds(verifyAll(*store)) == Kinds{{10, ProblemKind::kBadSignature}});
}

inline void movedCheckpointIsBadSignature(Backend& b) {
  auto store = tenRecords(b);
  REQUIRE(store->checkpoint().ok());
  b.exec("UPDATE audit_checkpoints SET up_to_seq = 20");
  CHECK(kinds(verifyAll(*store)) == Kinds{{20, ProblemKind::kBadSignature}});
}

inline void triggersRefuseUpdateAndDelete(Backend& b) {
  auto store = tenRecords(b);
  REQUIRE(store->checkpoint().ok());
  for (const char* sql :
       {"UPDATE audit_records SET text = 'x' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 2", "DELETE FROM audit_checkpoints"}) {
    INFO(sql);
    CHECK_FALSE(b.tryExecGuarded(sql));
  }
  CHECK(verifyAll(*store).ok);
}

inline void rangeVerifyChecksOnlyRange(Backend& b) {
  auto store = tenRecords(b);
  b.exec("DELETE FROM audit_records WHERE seq = 9");
  auto part = store->verify(2, 6);
  REQUIRE(part.ok());
  CHECK(part->ok);
  CHECK(part->records_checked == 5);
  CHECK(kinds(verifyAll(*store)) == Kinds{{9, ProblemKind::kMissing}});
  auto tail = store->verify(8, 10);
  REQUIRE(tail.ok());
  CHECK(kinds(*tail) == Kinds{{9, ProblemKind::kMissing}});
}

// --- retention ---

inline void retentionPrunesPrefix(Backend& b) {
  auto store = b.open(4);
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
  auto again = store->pruneBefore(minute(9));
  REQUIRE(again.ok());
  CHECK(again->first_pruned == 7);
  CHECK(again->last_pruned == 8);
  CHECK(verifyAll(*store).pruned_through == 8);
  CHECK(store->pruneBefore(minute(9))->first_pruned == 0);
  // Deleting past the retention checkpoint is still a gap.
  b.exec("DELETE FROM audit_records WHERE seq = 9");
  CHECK(kinds(verifyAll(*store)) == Kinds{{9, ProblemKind::kMissing}});
}

inline void pruningEverythingStaysAnchored(Backend& b) {
  {
    auto store = b.open();
    REQUIRE(store->append(makeEvents(1, 5)).ok());
    CHECK(store->pruneBefore(minute(100))->last_pruned == 5);
  }
  auto store = b.open();
  CHECK(store->headSequence() == 5);
  CHECK(store->append(makeEvents(6, 2))->sequences == std::vector<uint64_t>{6, 7});
  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.pruned_through == 5);
}

// The embedded store in a temp dir.
class SqliteBackend final : public Backend {
 public:
  AuditStorePtr open(uint64_t checkpoint_every, ClockPtr clock) override {
    return openStore(dir_.path().string(), checkpoint_every, std::move(clock));
  }
  void exec(const std::string& sql) override { RawDb(db()).exec(sql); }
  void execBlob(const std::string& sql, const std::string& blob) override {
    RawDb(db()).execBlob(sql, blob);
  }
  std::string queryBlob(const std::string& sql) override { return RawDb(db()).queryBlob(sql); }
  int64_t queryInt(const std::string& sql) override { return RawDb(db()).queryInt(sql); }
  bool tryExecGuarded(const std::string& sql) override {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db().c_str(), &raw) == SQLITE_OK);
    const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    return rc == SQLITE_OK;
  }
  void replaceKey() override { std::filesystem::remove(dir_.path() / "audit-signing-key.pem"); }

 private:
  std::string db() const { return (dir_.path() / "audit.db").string(); }
  tollgate::testing::TempDir dir_;
};

// Every case above, by name.
inline const std::vector<std::pair<const char*, void (*)(Backend&)>>& backendCases() {
  static const std::vector<std::pair<const char*, void (*)(Backend&)>> kCases = {
      {"append assigns dense sequences and links records", appendLinksRecords},
      {"the chain continues across a restart", chainContinuesAcrossRestart},
      {"an event without a time gets the store clock's time", missingTimeFromClock},
      {"search filters match exactly what they name", searchFiltersMatchExactly},
      {"pages follow each other without gaps or repeats", pagesFollowEachOther},
      {"export streams every match in order and stops on a callback error", exportStreamsAndStops},
      {"a replayed sidecar batch is ignored and reports the original sequences",
       replayedBatchIgnored},
      {"a duplicate inside one batch is stored once", duplicateInsideBatchStoredOnce},
      {"the source sequence stored without gaps is kept per source",
       storedThroughSequencePerSource},
      {"an oversized event fails the whole batch and stores nothing",
       oversizedEventFailsWholeBatch},
      {"a periodic checkpoint is written every N records", periodicCheckpointEveryN},
      {"checkpoints signed by another key are bad signatures", otherKeyCheckpointsAreBadSignatures},
      {"verify passes on an untouched store", untouchedStoreVerifies},
      {"changed payloads are reported as changed", changedPayloadIsChanged},
      {"an edited search column is reported as changed", editedSearchColumnIsChanged},
      {"deleted records are reported as missing", deletedRecordsAreMissing},
      {"swapped sequence numbers are reported as reordered", swappedSequencesAreReordered},
      {"a truncated tail is reported and refuses appends after a restart",
       truncatedTailRefusesAppends},
      {"a rewritten chain is caught by the checkpoint", rewrittenChainCaughtByCheckpoint},
      {"a tampered checkpoint signature is a bad signature", forgedCheckpointsAreBadSignatures},
      {"a checkpoint moved to another sequence is a bad signature", movedCheckpointIsBadSignature},
      {"update and delete are refused by the append-only triggers", triggersRefuseUpdateAndDelete},
      {"verify of a range checks only that range", rangeVerifyChecksOnlyRange},
      {"retention deletes the old prefix and verify reports the pruned range",
       retentionPrunesPrefix},
      {"pruning everything keeps the chain anchored across a restart",
       pruningEverythingStaysAnchored},
  };
  return kCases;
}

}  // namespace tollgate::controlplane::audit::testing
