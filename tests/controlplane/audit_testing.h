// Shared helpers for the audit store tests: event builders and raw SQLite access for tampering.
#pragma once

#include <sqlite3.h>

#include <catch2/catch_test_macros.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controlplane/audit/sqlite_audit_store.h"

namespace tollgate::controlplane::audit::testing {

// 2025-01-01T00:00:00Z.
inline constexpr int64_t kBaseSeconds = 1735689600;

// A plausible statement event; `i` varies every field a search can filter on.
inline v1::AuditEvent makeEvent(int i, const std::string& source = "sidecar/pod-a",
                                uint64_t source_sequence = 0) {
  v1::AuditEvent e;
  e.set_id("evt-" + std::to_string(i));
  e.set_type(i % 5 == 0 ? v1::EVENT_SESSION_START : v1::EVENT_STATEMENT);
  e.mutable_time()->set_seconds(kBaseSeconds + i * 60);
  e.mutable_identity()->set_principal_id("principal-" + std::to_string(i % 3));
  e.mutable_identity()->set_subject("system:serviceaccount:ci:job-" + std::to_string(i % 2));
  e.mutable_location()->set_resource(i % 2 == 0 ? "payments-db" : "ledger-db");
  e.mutable_location()->set_source(source);
  e.mutable_location()->set_session_id("sess-" + std::to_string(i / 10));
  e.mutable_action()->set_statement("SELECT * FROM cards_" + std::to_string(i) + " WHERE id = $1");
  e.mutable_result()->set_success(i % 4 != 0);
  e.mutable_reason()->set_decision(i % 4 == 0 ? v1::DECISION_BLOCK : v1::DECISION_ALLOW);
  e.mutable_reason()->add_rule_ids(i % 4 == 0 ? "no-ddl" : "read-ok");
  e.set_source_sequence(source_sequence);
  return e;
}

inline std::vector<v1::AuditEvent> makeEvents(int first, int count) {
  std::vector<v1::AuditEvent> out;
  for (int i = first; i < first + count; ++i) out.push_back(makeEvent(i));
  return out;
}

inline std::unique_ptr<SqliteAuditStore> openStore(const std::string& dir,
                                                   uint64_t checkpoint_every = 1000,
                                                   ClockPtr clock = nullptr) {
  SqliteAuditStoreOptions options;
  options.data_dir = dir;
  options.checkpoint_every = checkpoint_every;
  options.clock = std::move(clock);
  auto store = SqliteAuditStore::open(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

// A direct connection to the store's file, as an attacker with file access would use. Drops
// the append-only triggers first (the attacker can, too).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
    for (const char* t : {"audit_records_no_update", "audit_records_no_delete",
                          "audit_checkpoints_no_update", "audit_checkpoints_no_delete"}) {
      exec(std::string("DROP TRIGGER IF EXISTS ") + t);
    }
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err != nullptr ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  // Runs `sql` with one blob parameter.
  void execBlob(const std::string& sql, const std::string& blob) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    REQUIRE(rc == SQLITE_DONE);
  }
  // First column of the first row of `sql` as bytes (empty when no row).
  std::string queryBlob(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const char* p = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
      out.assign(p == nullptr ? "" : p, static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  int64_t queryInt(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    int64_t out = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The problem kinds of a report, in order, for exact comparisons.
inline std::vector<std::pair<uint64_t, ProblemKind>> kinds(const VerifyReport& report) {
  std::vector<std::pair<uint64_t, ProblemKind>> out;
  for (const auto& p : report.problems) out.emplace_back(p.sequence, p.kind);
  return out;
}

inline VerifyReport verifyAll(AuditStore& store) {
  auto report = store.verify(0, 0);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  for (const auto& p : report->problems) UNSCOPED_INFO(p.what);
  return *report;
}

}  // namespace tollgate::controlplane::audit::testing
