// The embedded audit store: one SQLite file in WAL mode, hash-chained records, signed checkpoints.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controlplane/audit/audit_store.h"
#include "controlplane/audit/chain.h"
#include "controlplane/audit/checkpoint.h"
#include "controlplane/audit/sqlite_db.h"

namespace tollgate::controlplane::audit {

struct SqliteAuditStoreOptions {
  // Directory holding audit.db (with its -wal and -shm files); created if missing.
  std::string data_dir;
  // PEM Ed25519 private key for checkpoints; empty: data_dir/audit-signing-key.pem. Generated
  // (mode 0600) on first start when the file does not exist.
  std::string key_path;
  // A periodic checkpoint is written once this many records were appended since the last one;
  // 0 disables periodic checkpoints.
  uint64_t checkpoint_every = 1000;
  // Clock for checkpoint times and for events without a time; null: the system clock.
  ClockPtr clock;
};

// AuditStore over SQLite (layout in docs/audit-format.md).
//
// Durability: journal_mode=WAL with synchronous=FULL, so a record is on disk when append()
// returns (the sidecar deletes its spool on our ack; NORMAL could lose acked records on power
// loss). Concurrency: one writer connection behind a mutex; readers use a small pool of their
// own connections (WAL lets them read a committed snapshot while the writer appends).
//
// A store whose tail was truncated below a checkpoint refuses further appends
// (FailedPrecondition) so that new records cannot paper over the loss; reads and verify work.
class SqliteAuditStore final : public AuditStore {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteAuditStore>> open(SqliteAuditStoreOptions options);
  ~SqliteAuditStore() override;

  // AuditStore
  absl::StatusOr<AppendResult> append(const std::vector<v1::AuditEvent>& events) override;
  absl::StatusOr<v1::AuditEvent> get(uint64_t sequence) override;
  absl::StatusOr<v1::SearchAuditResponse> search(const SearchFilter& filter) override;
  absl::Status exportRecords(const SearchFilter& filter, const ExportCallback& callback) override;
  absl::StatusOr<VerifyReport> verify(uint64_t from, uint64_t to) override;
  absl::StatusOr<uint64_t> checkpoint() override;
  absl::StatusOr<PruneResult> pruneBefore(std::chrono::system_clock::time_point cutoff) override;
  uint64_t headSequence() override { return published_head_.load(); }
  absl::StatusOr<uint64_t> storedThroughSequence(const std::string& source) override;

  // The checkpoint key (e.g. to publish its public half for offline verification).
  const CheckpointKey& key() const { return *key_; }
  // Path of the SQLite database file.
  const std::string& databasePath() const { return db_path_; }

 private:
  SqliteAuditStore(SqliteAuditStoreOptions options, std::unique_ptr<CheckpointKey> key,
                   std::string db_path);
  absl::Status init();
  absl::Status loadHead();
  int64_t nowMicros() const;
  // The write path; called with write_mu_ held inside a transaction.
  absl::Status appendLocked(const std::vector<v1::AuditEvent>& events, AppendResult& result);
  absl::Status insertCheckpointLocked(CheckpointKind kind, uint64_t sequence, const Hash& hash);
  // Runs `body` in BEGIN IMMEDIATE ... COMMIT on the writer, rolling back on failure.
  template <typename Body>
  absl::Status writeTransaction(Body&& body);

  // Reader connection pool.
  absl::StatusOr<Db> acquireReader();
  void releaseReader(Db db);
  // Runs a page query and appends decoded records; returns the last sequence seen (0: none).
  absl::StatusOr<uint64_t> queryPage(Db& db, const SearchFilter& filter, uint32_t limit,
                                     std::vector<v1::AuditEvent>& out);

  SqliteAuditStoreOptions options_;
  std::unique_ptr<CheckpointKey> key_;
  std::string db_path_;

  std::mutex write_mu_;
  Db writer_;
  Stmt insert_record_;
  Stmt insert_rule_;
  Stmt find_source_;
  Stmt insert_checkpoint_;
  uint64_t head_seq_ = 0;
  Hash head_hash_{};
  uint64_t last_checkpoint_seq_ = 0;  // highest non-retention checkpoint
  std::atomic<uint64_t> published_head_{0};

  std::mutex readers_mu_;
  std::vector<Db> idle_readers_;
};

}  // namespace tollgate::controlplane::audit
