// SqliteAuditStore: schema, opening, the append path, checkpoints and retention.
#include "controlplane/audit/sqlite_audit_store.h"

#include <filesystem>

#include "controlplane/audit/append_prep.h"

namespace tollgate::controlplane::audit {
namespace {

constexpr int kSchemaVersion = 1;

// The layout is documented in docs/audit-format.md; keep the two in step.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_records(
  seq INTEGER PRIMARY KEY,
  payload BLOB NOT NULL,
  prev_hash BLOB NOT NULL,
  record_hash BLOB NOT NULL,
  time_us INTEGER NOT NULL,
  event_type INTEGER NOT NULL,
  decision INTEGER NOT NULL,
  principal_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  resource TEXT NOT NULL,
  session_id TEXT NOT NULL,
  source TEXT NOT NULL,
  source_seq INTEGER NOT NULL,
  text TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS audit_records_source
  ON audit_records(source, source_seq) WHERE source_seq <> 0;
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records(time_us);
CREATE INDEX IF NOT EXISTS audit_records_principal ON audit_records(principal_id);
CREATE INDEX IF NOT EXISTS audit_records_subject ON audit_records(subject);
CREATE INDEX IF NOT EXISTS audit_records_resource ON audit_records(resource);
CREATE INDEX IF NOT EXISTS audit_records_session ON audit_records(session_id);
CREATE TABLE IF NOT EXISTS audit_rules(
  rule_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(rule_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints(
  id INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  up_to_seq INTEGER NOT NULL,
  record_hash BLOB NOT NULL,
  time_us INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  signature BLOB NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
WHEN OLD.seq > (SELECT COALESCE(MAX(up_to_seq), 0) FROM audit_checkpoints WHERE kind = 3)
BEGIN SELECT RAISE(ABORT, 'audit records are deleted only by retention'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
)sql";

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteAuditStore>> SqliteAuditStore::open(
    SqliteAuditStoreOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("audit data_dir is empty");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return absl::UnavailableError("cannot create " + options.data_dir + ": " + ec.message());
  if (options.key_path.empty()) {
    options.key_path = (std::filesystem::path(options.data_dir) / "audit-signing-key.pem").string();
  }
  if (!options.clock) options.clock = systemClock();
  auto key = CheckpointKey::loadOrCreate(options.key_path);
  if (!key.ok()) return key.status();
  std::string db_path = (std::filesystem::path(options.data_dir) / "audit.db").string();
  std::unique_ptr<SqliteAuditStore> store(
      new SqliteAuditStore(std::move(options), std::move(*key), std::move(db_path)));
  if (absl::Status st = store->init(); !st.ok()) return st;
  return store;
}

SqliteAuditStore::SqliteAuditStore(SqliteAuditStoreOptions options,
                                   std::unique_ptr<CheckpointKey> key, std::string db_path)
    : options_(std::move(options)), key_(std::move(key)), db_path_(std::move(db_path)) {}

SqliteAuditStore::~SqliteAuditStore() = default;

absl::Status SqliteAuditStore::init() {
  auto db = Db::open(db_path_, /*create=*/true);
  if (!db.ok()) return db.status();
  writer_ = std::move(*db);
  {
    auto version = writer_.prepare("PRAGMA user_version");
    if (!version.ok()) return version.status();
    if (auto row = version->step(); !row.ok()) return row.status();
    if (version->i64(0) > kSchemaVersion) {
      return absl::FailedPreconditionError("audit database " + db_path_ +
                                           " has a newer schema version");
    }
  }  // finalized here: a pending statement would keep a read transaction open
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"}) {
    if (absl::Status st = writer_.exec(sql); !st.ok()) return st;
  }
  if (absl::Status st =
          writer_.exec(std::string("BEGIN IMMEDIATE;") + kSchema +
                       "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";COMMIT;");
      !st.ok()) {
    (void)writer_.exec("ROLLBACK");
    return st;
  }
  struct Prepared {
    Stmt* stmt;
    const char* sql;
  };
  for (const Prepared& p : std::initializer_list<Prepared>{
           {&insert_record_,
            "INSERT INTO audit_records(seq, payload, prev_hash, record_hash, time_us, event_type,"
            " decision, principal_id, subject, resource, session_id, source, source_seq, text)"
            " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
           {&insert_rule_, "INSERT OR IGNORE INTO audit_rules(rule_id, seq) VALUES(?, ?)"},
           {&find_source_,
            "SELECT seq FROM audit_records WHERE source = ? AND source_seq = ?"
            " AND source_seq <> 0"},
           {&insert_checkpoint_,
            "INSERT INTO audit_checkpoints(kind, up_to_seq, record_hash, time_us, key_id,"
            " signature) VALUES(?,?,?,?,?,?)"}}) {
    auto stmt = writer_.prepare(p.sql);
    if (!stmt.ok()) return stmt.status();
    *p.stmt = std::move(*stmt);
  }
  return loadHead();
}

absl::Status SqliteAuditStore::loadHead() {
  head_seq_ = 0;
  head_hash_ = kZeroHash;
  for (const char* sql : {"SELECT seq, record_hash FROM audit_records ORDER BY seq DESC LIMIT 1",
                          "SELECT up_to_seq, record_hash FROM audit_checkpoints WHERE kind = 3"
                          " ORDER BY up_to_seq DESC LIMIT 1"}) {
    auto stmt = writer_.prepare(sql);
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row || static_cast<uint64_t>(stmt->i64(0)) <= head_seq_) continue;
    auto hash = hashFromBytes(stmt->blob(1));
    if (!hash.ok()) return absl::DataLossError("audit chain head has a malformed hash");
    head_seq_ = static_cast<uint64_t>(stmt->i64(0));
    head_hash_ = *hash;
  }
  auto cp =
      writer_.prepare("SELECT COALESCE(MAX(up_to_seq), 0) FROM audit_checkpoints WHERE kind <> 3");
  if (!cp.ok()) return cp.status();
  if (auto row = cp->step(); !row.ok()) return row.status();
  last_checkpoint_seq_ = static_cast<uint64_t>(cp->i64(0));
  published_head_.store(head_seq_);
  return absl::OkStatus();
}

int64_t SqliteAuditStore::nowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             options_.clock->now().time_since_epoch())
      .count();
}

template <typename Body>
absl::Status SqliteAuditStore::writeTransaction(Body&& body) {
  const uint64_t seq = head_seq_;
  const Hash hash = head_hash_;
  const uint64_t cp = last_checkpoint_seq_;
  absl::Status st = writer_.exec("BEGIN IMMEDIATE");
  if (!st.ok()) return st;
  st = body();
  if (st.ok()) st = writer_.exec("COMMIT");
  if (!st.ok()) {
    (void)writer_.exec("ROLLBACK");
    head_seq_ = seq;
    head_hash_ = hash;
    last_checkpoint_seq_ = cp;
    return st;
  }
  published_head_.store(head_seq_);
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> SqliteAuditStore::append(const std::vector<v1::AuditEvent>& events) {
  AppendResult result;
  if (events.empty()) return result;
  std::lock_guard<std::mutex> lock(write_mu_);
  if (head_seq_ < last_checkpoint_seq_) {
    return absl::FailedPreconditionError("audit store truncated: a checkpoint covers sequence " +
                                         std::to_string(last_checkpoint_seq_) +
                                         " but the last record is " + std::to_string(head_seq_) +
                                         "; run verify and restore from backup");
  }
  absl::Status st = writeTransaction([&] { return appendLocked(events, result); });
  if (!st.ok()) return st;
  return result;
}

absl::Status SqliteAuditStore::appendLocked(const std::vector<v1::AuditEvent>& events,
                                            AppendResult& result) {
  for (size_t i = 0; i < events.size(); ++i) {
    const PreparedEvent prepared = prepareEvent(events[i], nowMicros(), result);
    const v1::AuditEvent& ev = prepared.event;
    const IndexColumns& cols = prepared.columns;
    if (cols.source_sequence != 0) {
      find_source_.reset();
      find_source_.bind(1, cols.source).bind(2, cols.source_sequence);
      auto row = find_source_.step();
      if (!row.ok()) return row.status();
      if (*row) {
        result.sequences.push_back(static_cast<uint64_t>(find_source_.i64(0)));
        result.duplicate.push_back(true);
        find_source_.reset();
        continue;
      }
      find_source_.reset();
    }
    const uint64_t seq = head_seq_ + 1;
    auto chained = chainRecord(ev, seq, head_hash_, i);
    if (!chained.ok()) return chained.status();
    const Hash hash = chained->hash;
    insert_record_.reset();
    insert_record_.bind(1, static_cast<int64_t>(seq))
        .bindBlob(2, chained->bytes)
        .bindBlob(3, hashBytes(head_hash_))
        .bindBlob(4, hashBytes(hash))
        .bind(5, cols.time_us)
        .bind(6, cols.event_type)
        .bind(7, cols.decision)
        .bind(8, cols.principal_id)
        .bind(9, cols.subject)
        .bind(10, cols.resource)
        .bind(11, cols.session_id)
        .bind(12, cols.source)
        .bind(13, cols.source_sequence)
        .bind(14, cols.text);
    if (absl::Status st = insert_record_.run(); !st.ok()) return st;
    for (const std::string& rule : ev.reason().rule_ids()) {
      insert_rule_.reset();
      insert_rule_.bind(1, rule).bind(2, static_cast<int64_t>(seq));
      if (absl::Status st = insert_rule_.run(); !st.ok()) return st;
    }
    head_seq_ = seq;
    head_hash_ = hash;
    result.sequences.push_back(seq);
    result.duplicate.push_back(false);
    if (options_.checkpoint_every > 0 && seq - last_checkpoint_seq_ >= options_.checkpoint_every) {
      if (absl::Status st = insertCheckpointLocked(CheckpointKind::kPeriodic, seq, hash);
          !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteAuditStore::insertCheckpointLocked(CheckpointKind kind, uint64_t sequence,
                                                      const Hash& hash) {
  Checkpoint cp{kind, sequence, hash, nowMicros()};
  auto sig = key_->sign(checkpointMessage(cp));
  if (!sig.ok()) return sig.status();
  insert_checkpoint_.reset();
  insert_checkpoint_.bind(1, static_cast<int64_t>(kind))
      .bind(2, static_cast<int64_t>(sequence))
      .bindBlob(3, hashBytes(hash))
      .bind(4, cp.time_us)
      .bind(5, key_->keyId())
      .bindBlob(6, *sig);
  if (absl::Status st = insert_checkpoint_.run(); !st.ok()) return st;
  if (kind != CheckpointKind::kRetention) last_checkpoint_seq_ = sequence;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SqliteAuditStore::checkpoint() {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (head_seq_ == 0) return uint64_t{0};
  absl::Status st = writeTransaction(
      [&] { return insertCheckpointLocked(CheckpointKind::kManual, head_seq_, head_hash_); });
  if (!st.ok()) return st;
  return head_seq_;
}

absl::StatusOr<PruneResult> SqliteAuditStore::pruneBefore(
    std::chrono::system_clock::time_point cutoff) {
  const int64_t cutoff_us =
      std::chrono::duration_cast<std::chrono::microseconds>(cutoff.time_since_epoch()).count();
  std::lock_guard<std::mutex> lock(write_mu_);
  PruneResult result;
  absl::Status st = writeTransaction([&]() -> absl::Status {
    auto bounds = writer_.prepare(
        "SELECT (SELECT MIN(seq) FROM audit_records),"
        " (SELECT MIN(seq) FROM audit_records WHERE time_us >= ?)");
    if (!bounds.ok()) return bounds.status();
    bounds->bind(1, cutoff_us);
    if (auto row = bounds->step(); !row.ok()) return row.status();
    if (bounds->isNull(0)) return absl::OkStatus();
    const uint64_t first = static_cast<uint64_t>(bounds->i64(0));
    const uint64_t last = bounds->isNull(1) ? head_seq_ : static_cast<uint64_t>(bounds->i64(1)) - 1;
    if (last < first) return absl::OkStatus();
    auto anchor = writer_.prepare("SELECT record_hash FROM audit_records WHERE seq = ?");
    if (!anchor.ok()) return anchor.status();
    anchor->bind(1, static_cast<int64_t>(last));
    auto row = anchor->step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::FailedPreconditionError("audit record " + std::to_string(last) +
                                           " is missing; run verify before retention");
    }
    auto hash = hashFromBytes(anchor->blob(0));
    if (!hash.ok()) return hash.status();
    if (absl::Status s = insertCheckpointLocked(CheckpointKind::kRetention, last, *hash); !s.ok()) {
      return s;
    }
    const std::string upto = std::to_string(last);
    if (absl::Status s = writer_.exec("DELETE FROM audit_rules WHERE seq <= " + upto +
                                      "; DELETE FROM audit_records WHERE seq <= " + upto);
        !s.ok()) {
      return s;
    }
    result.first_pruned = first;
    result.last_pruned = last;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return result;
}

absl::StatusOr<Db> SqliteAuditStore::acquireReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      Db db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return db;
    }
  }
  auto db = Db::open(db_path_, /*create=*/false);
  if (!db.ok()) return db.status();
  if (absl::Status st = db->exec("PRAGMA query_only=1"); !st.ok()) return st;
  return db;
}

void SqliteAuditStore::releaseReader(Db db) {
  constexpr size_t kMaxIdleReaders = 4;
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(db));
}

}  // namespace tollgate::controlplane::audit
