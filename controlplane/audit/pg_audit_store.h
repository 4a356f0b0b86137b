// The shared audit store for several control-plane replicas: PostgreSQL through libpq, with the
// same records, hash chain and signed checkpoints as the SQLite store.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controlplane/audit/audit_store.h"
#include "controlplane/audit/checkpoint.h"
#include "controlplane/audit/pg_conn.h"

namespace tollgate::controlplane::audit {

struct PgAuditStoreOptions {
  // PEM Ed25519 private key for checkpoints (required). Every replica writing one trail must
  // load the same key (e.g. one Kubernetes Secret): verify accepts only this key's checkpoints,
  // and opening a trail whose recorded key id differs is refused.
  std::string key_path;
  // Generate the key (mode 0600) when key_path does not exist. For a single replica or tests:
  // replicas each generating their own key would refuse each other's trail.
  bool create_key_if_missing = false;
  // A periodic checkpoint is written once this many records were appended since the last
  // periodic or manual one (by any replica); 0 disables periodic checkpoints.
  uint64_t checkpoint_every = 1000;
  // Clock for checkpoint times and events without a time; null: the system clock.
  ClockPtr clock;
  // Reader connections kept open between calls.
  size_t max_idle_readers = 4;
};

// AuditStore over PostgreSQL (layout in docs/audit-format.md, "PostgreSQL layout").
//
// Several stores (replicas) may append to one database at once: every write transaction takes
// a transaction-level advisory lock and then reads the chain head, so sequences stay dense and
// the chain linear whichever replica writes; (source, source_sequence) is de-duplicated across
// replicas (and backed by a unique index). Durability is the server's: a record is committed
// when append() returns (run the server with synchronous_commit on).
//
// Connections: one writer connection behind a mutex, and a small pool of reader connections;
// a connection that broke is re-established on next use (the failed call returns Unavailable;
// a retried append is safe for events with a source_sequence). Thread-safe like AuditStore.
class PgAuditStore final : public AuditStore {
 public:
  // Connects (Unavailable when the server cannot be reached), creates the schema when absent
  // (FailedPrecondition for a newer schema version), and checks the trail's key id.
  static absl::StatusOr<std::unique_ptr<PgAuditStore>> open(const std::string& dsn,
                                                            PgAuditStoreOptions options);
  ~PgAuditStore() override;

  // AuditStore
  absl::StatusOr<AppendResult> append(const std::vector<v1::AuditEvent>& events) override;
  absl::StatusOr<v1::AuditEvent> get(uint64_t sequence) override;
  absl::StatusOr<v1::SearchAuditResponse> search(const SearchFilter& filter) override;
  absl::Status exportRecords(const SearchFilter& filter, const ExportCallback& callback) override;
  absl::StatusOr<VerifyReport> verify(uint64_t from, uint64_t to) override;
  absl::StatusOr<uint64_t> checkpoint() override;
  absl::StatusOr<PruneResult> pruneBefore(std::chrono::system_clock::time_point cutoff) override;
  // Reads the head from the database (another replica may have appended); on a database error
  // the last head this store saw.
  uint64_t headSequence() override;
  absl::StatusOr<uint64_t> storedThroughSequence(const std::string& source) override;

  const CheckpointKey& key() const { return *key_; }

 private:
  // The chain head as the database holds it, read under the write lock.
  struct Head {
    uint64_t seq = 0;
    Hash hash{};
    uint64_t last_checkpoint = 0;  // highest periodic or manual checkpoint
  };
  PgAuditStore(std::string dsn, PgAuditStoreOptions options, std::unique_ptr<CheckpointKey> key);
  absl::Status init();
  int64_t nowMicros() const;
  // BEGIN, the advisory lock, and the head; the caller commits or rolls back.
  absl::StatusOr<Head> beginLocked();
  // Runs `body(head)` in a locked write transaction on the writer and commits it.
  template <typename Body>
  absl::Status writeTransaction(Body&& body);
  absl::Status appendLocked(const std::vector<v1::AuditEvent>& events, Head& head,
                            AppendResult& result);
  absl::Status insertCheckpoint(CheckpointKind kind, uint64_t sequence, const Hash& hash);

  // Reader connection pool. `pooled` tells whether the connection was idle in the pool (and may
  // have broken meanwhile) rather than new.
  absl::StatusOr<PgConn> acquireReader(bool* pooled = nullptr);
  void releaseReader(PgConn conn);
  // Runs `fn(conn)` (returning a Status or StatusOr) on a reader; retried once on a new
  // connection when a pooled one turns out broken (Unavailable), unless `*no_retry` was set.
  template <typename Fn>
  auto withReader(Fn&& fn, const bool* no_retry = nullptr) -> decltype(fn(std::declval<PgConn&>()));
  absl::StatusOr<uint64_t> queryPage(PgConn& conn, const SearchFilter& filter, uint32_t limit,
                                     std::vector<v1::AuditEvent>& out);

  const std::string dsn_;
  PgAuditStoreOptions options_;
  std::unique_ptr<CheckpointKey> key_;

  std::mutex write_mu_;
  PgConn writer_;
  std::atomic<uint64_t> seen_head_{0};

  std::mutex readers_mu_;
  std::vector<PgConn> idle_readers_;
};

// The factory the control plane's config calls for `audit: {backend: postgres, dsn: ...}`.
absl::StatusOr<AuditStorePtr> openPgAuditStore(const std::string& dsn, PgAuditStoreOptions options);

}  // namespace tollgate::controlplane::audit
