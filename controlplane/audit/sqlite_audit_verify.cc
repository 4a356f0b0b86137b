// SqliteAuditStore::verify: feeds one read snapshot of the SQLite tables to a ChainVerifier.
#include "controlplane/audit/chain_verifier.h"
#include "controlplane/audit/sqlite_audit_store.h"

namespace tollgate::controlplane::audit {
namespace {

// Runs the verifier over `db` inside the caller's read transaction; every statement is
// finalized before returning, so the connection can go back to the pool.
absl::StatusOr<VerifyReport> verifySnapshot(Db& db, const CheckpointKey& key, uint64_t from,
                                            uint64_t to) {
  ChainVerifier v(key, from, to);
  {
    auto stmt = db.prepare(
        "SELECT id, kind, up_to_seq, record_hash, time_us, key_id, signature"
        " FROM audit_checkpoints ORDER BY id");
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      v.addCheckpoint({stmt->i64(0), stmt->i64(1), static_cast<uint64_t>(stmt->i64(2)),
                       stmt->blob(3), stmt->i64(4), stmt->text(5), stmt->blob(6)});
    }
  }
  auto lookup_stmt = db.prepare("SELECT record_hash FROM audit_records WHERE seq = ?");
  if (!lookup_stmt.ok()) return lookup_stmt.status();
  HashLookup lookup = [&](uint64_t seq) -> absl::StatusOr<std::optional<std::string>> {
    lookup_stmt->reset();
    lookup_stmt->bind(1, static_cast<int64_t>(seq));
    auto row = lookup_stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(std::string(lookup_stmt->blob(0)));
  };
  if (absl::Status st = v.beginRecords(lookup); !st.ok()) return st;
  {
    // Every row from the start, plus the first one after `to` to see a gap reaching past it.
    auto stmt = db.prepare(
        "SELECT seq, payload, prev_hash, record_hash, time_us, event_type, decision,"
        " principal_id, subject, resource, session_id, source, source_seq, text"
        " FROM audit_records WHERE seq >= ? ORDER BY seq");
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, static_cast<int64_t>(v.recordsFrom()));
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      StoredRecord rec{
          static_cast<uint64_t>(stmt->i64(0)),
          stmt->blob(1),
          stmt->blob(2),
          stmt->blob(3),
          {stmt->i64(4), stmt->i64(5), stmt->i64(6), std::string(stmt->text(7)),
           std::string(stmt->text(8)), std::string(stmt->text(9)), std::string(stmt->text(10)),
           std::string(stmt->text(11)), stmt->i64(12), std::string(stmt->text(13))}};
      if (!v.addRecord(rec)) break;
    }
  }
  return v.finish(lookup);
}

}  // namespace

absl::StatusOr<VerifyReport> SqliteAuditStore::verify(uint64_t from, uint64_t to) {
  auto lease = acquireReader();
  if (!lease.ok()) return lease.status();
  Db db = std::move(*lease);
  // One read transaction: a consistent snapshot while appends continue.
  if (absl::Status st = db.exec("BEGIN"); !st.ok()) return st;
  auto report = verifySnapshot(db, *key_, from, to);
  (void)db.exec("COMMIT");
  releaseReader(std::move(db));
  return report;
}

}  // namespace tollgate::controlplane::audit
