// PgAuditStore: schema, opening, the locked append path, checkpoints and retention.
#include "controlplane/audit/pg_audit_store.h"

#include <charconv>
#include <filesystem>
#include <map>
#include <utility>

#include "controlplane/audit/append_prep.h"

namespace tollgate::controlplane::audit {
namespace {

constexpr int kSchemaVersion = 1;
// Advisory lock key serialising schema creation and every write transaction ("tollgate").
constexpr const char* kLockSql = "SELECT pg_advisory_xact_lock(8389754676633055589)";
// Rows per INSERT statement (14 parameters each; PostgreSQL allows 65535), and the parameter
// bytes after which a statement is sent early so huge records do not pile up in one message.
constexpr size_t kRowsPerInsert = 256;
constexpr size_t kBytesPerInsert = 8 << 20;
constexpr size_t kPairsPerLookup = 1000;

// The layout is documented in docs/audit-format.md; keep the two in step. Text columns use the
// "C" collation: byte-wise equality and ordering, and ILIKE folds ASCII letters only.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS audit_records(
  seq bigint PRIMARY KEY,
  payload bytea NOT NULL,
  prev_hash bytea NOT NULL,
  record_hash bytea NOT NULL,
  time_us bigint NOT NULL,
  event_type bigint NOT NULL,
  decision bigint NOT NULL,
  principal_id text COLLATE "C" NOT NULL,
  subject text COLLATE "C" NOT NULL,
  resource text COLLATE "C" NOT NULL,
  session_id text COLLATE "C" NOT NULL,
  source text COLLATE "C" NOT NULL,
  source_seq bigint NOT NULL,
  text text COLLATE "C" NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS audit_records_source
  ON audit_records(source, source_seq) WHERE source_seq <> 0;
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records(time_us);
CREATE INDEX IF NOT EXISTS audit_records_principal ON audit_records(principal_id);
CREATE INDEX IF NOT EXISTS audit_records_subject ON audit_records(subject);
CREATE INDEX IF NOT EXISTS audit_records_resource ON audit_records(resource);
CREATE INDEX IF NOT EXISTS audit_records_session ON audit_records(session_id);
CREATE TABLE IF NOT EXISTS audit_rules(
  rule_id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY(rule_id, seq));
CREATE INDEX IF NOT EXISTS audit_rules_seq ON audit_rules(seq);
CREATE TABLE IF NOT EXISTS audit_checkpoints(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind bigint NOT NULL,
  up_to_seq bigint NOT NULL,
  record_hash bytea NOT NULL,
  time_us bigint NOT NULL,
  key_id text NOT NULL,
  signature bytea NOT NULL);
CREATE INDEX IF NOT EXISTS audit_checkpoints_kind ON audit_checkpoints(kind, up_to_seq);
CREATE OR REPLACE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;
CREATE OR REPLACE FUNCTION audit_records_check_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM old_rows WHERE seq > (SELECT COALESCE(MAX(up_to_seq), 0)
             FROM audit_checkpoints WHERE kind = 3)) THEN
    RAISE EXCEPTION 'audit records are deleted only by retention';
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit records are append-only');
CREATE OR REPLACE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit records are append-only');
CREATE OR REPLACE TRIGGER audit_records_no_delete AFTER DELETE ON audit_records
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION audit_records_check_delete();
CREATE OR REPLACE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE OR TRUNCATE
  ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('audit checkpoints are append-only');
)sql";

// The chain head: the last record, the last retention anchor, the last other checkpoint.
constexpr const char* kHeadSql = R"sql(
SELECT r.seq, r.record_hash, c.up_to_seq, c.record_hash,
  GREATEST((SELECT MAX(up_to_seq) FROM audit_checkpoints WHERE kind = 1),
           (SELECT MAX(up_to_seq) FROM audit_checkpoints WHERE kind = 2), 0)
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT seq, record_hash FROM audit_records ORDER BY seq DESC LIMIT 1) r ON TRUE
LEFT JOIN LATERAL (SELECT up_to_seq, record_hash FROM audit_checkpoints WHERE kind = 3
                   ORDER BY up_to_seq DESC LIMIT 1) c ON TRUE)sql";

constexpr const char* kRecordColumns =
    "seq, payload, prev_hash, record_hash, time_us, event_type, decision, principal_id, subject,"
    " resource, session_id, source, source_seq, text";

// A text-format bigint ("" for NULL reads as 0).
uint64_t textU64(std::string_view v) {
  uint64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

// A text-format bytea ("\x" + hex) holding a hash.
absl::StatusOr<Hash> textHash(std::string_view v) {
  if (v.size() < 2 || v.substr(0, 2) != "\\x") return absl::DataLossError("malformed hash");
  return hashFromHex(v.substr(2));
}

// One record row ready to insert.
struct Row {
  uint64_t seq = 0;
  ChainedRecord rec;
  Hash prev{};
  const PreparedEvent* prepared = nullptr;
};

// Sends rows as multi-row INSERTs (with their rule ids through a data-modifying CTE).
absl::Status insertRows(PgConn& conn, const std::vector<Row>& rows) {
  size_t i = 0;
  while (i < rows.size()) {
    PgParams params;
    std::string values;
    std::string rules;
    size_t bytes = 0;
    for (size_t n = 0; i < rows.size() && n < kRowsPerInsert && bytes < kBytesPerInsert; ++n, ++i) {
      const Row& r = rows[i];
      const IndexColumns& c = r.prepared->columns;
      const size_t base = params.size();
      values += n == 0 ? "(" : ",(";
      for (size_t k = 1; k <= 14; ++k) values += (k == 1 ? "$" : ",$") + std::to_string(base + k);
      values += ")";
      params.add(static_cast<int64_t>(r.seq))
          .addBytes(r.rec.bytes)
          .addBytes(hashBytes(r.prev))
          .addBytes(hashBytes(r.rec.hash))
          .add(c.time_us)
          .add(c.event_type)
          .add(c.decision)
          .add(pgText(c.principal_id))
          .add(pgText(c.subject))
          .add(pgText(c.resource))
          .add(pgText(c.session_id))
          .add(pgText(c.source))
          .add(c.source_sequence)
          .add(pgText(c.text));
      bytes += r.rec.bytes.size();
      for (const std::string& rule : r.prepared->event.reason().rule_ids()) {
        rules += (rules.empty() ? "($" : ",($") + std::to_string(params.size() + 1) + ",$" +
                 std::to_string(base + 1) + "::bigint)";
        params.add(pgText(rule));
      }
    }
    std::string insert =
        std::string("INSERT INTO audit_records(") + kRecordColumns + ") VALUES " + values;
    std::string sql = rules.empty() ? insert
                                    : "WITH r AS (" + insert +
                                          ") INSERT INTO audit_rules(rule_id, seq) VALUES " +
                                          rules + " ON CONFLICT DO NOTHING";
    if (auto r = conn.query(sql, params); !r.ok()) return r.status();
  }
  return absl::OkStatus();
}

using SourceKey = std::pair<std::string, int64_t>;

// Stored sequences of the (source, source_sequence) pairs among `events` already in the table.
// One condition per source with its sequences as an array (a batch usually comes from one
// sidecar), so the unique (source, source_seq) index answers it.
absl::StatusOr<std::map<SourceKey, uint64_t>> storedSources(
    PgConn& conn, const std::vector<PreparedEvent>& events) {
  std::map<std::string, std::string> by_source;  // source -> "{1,2,...}"
  for (const PreparedEvent& p : events) {
    if (p.columns.source_sequence == 0) continue;
    std::string& list = by_source[pgText(p.columns.source)];
    list += (list.empty() ? "{" : ",") + std::to_string(p.columns.source_sequence);
  }
  std::map<SourceKey, uint64_t> out;
  auto it = by_source.begin();
  while (it != by_source.end()) {
    PgParams params;
    std::string where;
    for (size_t n = 0; it != by_source.end() && n < kPairsPerLookup; ++n, ++it) {
      where += std::string(where.empty() ? "" : " OR ") + "(source = $" +
               std::to_string(params.size() + 1) + " AND source_seq = ANY($" +
               std::to_string(params.size() + 2) + "::bigint[]))";
      params.add(it->first).add(it->second + "}");
    }
    auto r =
        conn.query("SELECT source, source_seq, seq FROM audit_records WHERE source_seq <> 0 AND (" +
                       where + ")",
                   params);
    if (!r.ok()) return r.status();
    for (int row = 0; row < r->rows(); ++row) {
      out[{std::string(r->bytes(row, 0)), r->i64(row, 1)}] = static_cast<uint64_t>(r->i64(row, 2));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgAuditStore>> PgAuditStore::open(const std::string& dsn,
                                                                 PgAuditStoreOptions options) {
  if (options.key_path.empty()) {
    return absl::InvalidArgumentError("the PostgreSQL audit store needs key_path (shared key)");
  }
  if (!options.create_key_if_missing && !std::filesystem::exists(options.key_path)) {
    return absl::FailedPreconditionError(
        "audit signing key " + options.key_path +
        " does not exist; every replica must load the same key (see docs/audit-format.md)");
  }
  if (!options.clock) options.clock = systemClock();
  auto key = CheckpointKey::loadOrCreate(options.key_path);
  if (!key.ok()) return key.status();
  std::unique_ptr<PgAuditStore> store(new PgAuditStore(dsn, std::move(options), std::move(*key)));
  if (absl::Status st = store->init(); !st.ok()) return st;
  return store;
}

absl::StatusOr<AuditStorePtr> openPgAuditStore(const std::string& dsn,
                                               PgAuditStoreOptions options) {
  auto store = PgAuditStore::open(dsn, std::move(options));
  if (!store.ok()) return store.status();
  return AuditStorePtr(std::move(*store));
}

PgAuditStore::PgAuditStore(std::string dsn, PgAuditStoreOptions options,
                           std::unique_ptr<CheckpointKey> key)
    : dsn_(std::move(dsn)), options_(std::move(options)), key_(std::move(key)) {}

PgAuditStore::~PgAuditStore() = default;

int64_t PgAuditStore::nowMicros() const { return unixMicros(options_.clock->now()); }

absl::Status PgAuditStore::init() {
  auto conn = PgConn::connect(dsn_);
  if (!conn.ok()) return conn.status();
  writer_ = std::move(*conn);
  // Replicas starting together: the advisory lock lets one create the schema at a time.
  auto exists = writer_.exec(std::string("BEGIN;") + kLockSql +
                             ";SELECT to_regclass('audit_meta') IS NOT NULL");
  absl::Status st = exists.status();
  auto meta = [&](const char* key) -> absl::StatusOr<std::string> {
    auto r = writer_.query("SELECT value FROM audit_meta WHERE key = $1",
                           std::move(PgParams().add(std::string(key))));
    if (!r.ok()) return r.status();
    return r->rows() == 0 ? std::string() : std::string(r->bytes(0, 0));
  };
  if (st.ok()) {
    int version = 0;
    if (exists->bytes(0, 0) == "t") {
      auto v = meta("schema_version");
      st = v.status();
      if (v.ok()) version = static_cast<int>(textU64(*v));
    }
    if (st.ok() && version > kSchemaVersion) {
      st = absl::FailedPreconditionError("audit database has a newer schema version (" +
                                         std::to_string(version) + ")");
    } else if (st.ok() && version < kSchemaVersion) {
      st = writer_.exec(kSchema).status();
      if (st.ok()) {
        st = writer_
                 .query(
                     "INSERT INTO audit_meta(key, value) VALUES ('schema_version', $1)"
                     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                     std::move(PgParams().add(std::to_string(kSchemaVersion))))
                 .status();
      }
    }
  }
  if (st.ok()) {
    auto id = meta("key_id");
    st = id.status();
    if (st.ok() && id->empty()) {
      st = writer_
               .query("INSERT INTO audit_meta(key, value) VALUES ('key_id', $1)",
                      std::move(PgParams().add(key_->keyId())))
               .status();
    } else if (st.ok() && *id != key_->keyId()) {
      st = absl::FailedPreconditionError("the audit trail is signed by key " + *id +
                                         " but this replica loaded key " + key_->keyId());
    }
  }
  if (st.ok()) st = writer_.exec("COMMIT").status();
  if (!st.ok()) {
    writer_.rollback();
    return st;
  }
  (void)headSequence();
  return absl::OkStatus();
}

absl::StatusOr<PgAuditStore::Head> PgAuditStore::beginLocked() {
  // One round trip; each statement takes its own snapshot (READ COMMITTED), so the head is read
  // after the lock is held and sees every commit of the writer before us.
  auto r = writer_.exec(std::string("BEGIN;") + kLockSql + ";" + kHeadSql);
  if (!r.ok()) return r.status();
  Head head;
  for (int col : {0, 2}) {
    if (r->isNull(0, col)) continue;
    const uint64_t seq = textU64(r->bytes(0, col));
    if (seq <= head.seq) continue;
    auto hash = textHash(r->bytes(0, col + 1));
    if (!hash.ok()) return absl::DataLossError("audit chain head has a malformed hash");
    head.seq = seq;
    head.hash = *hash;
  }
  head.last_checkpoint = textU64(r->bytes(0, 4));
  return head;
}

template <typename Body>
absl::Status PgAuditStore::writeTransaction(Body&& body) {
  if (absl::Status st = writer_.ensureConnected(); !st.ok()) return st;
  auto head = beginLocked();
  if (head.status().code() == absl::StatusCode::kUnavailable) {
    // The connection broke while idle (server restart, failover); nothing was written yet.
    writer_.rollback();
    if (absl::Status st = writer_.ensureConnected(); !st.ok()) return st;
    head = beginLocked();
  }
  absl::Status st = head.status();
  if (st.ok()) st = body(*head);
  if (st.ok()) st = writer_.exec("COMMIT").status();
  if (!st.ok()) {
    writer_.rollback();
    return st;
  }
  seen_head_.store(head->seq);
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> PgAuditStore::append(const std::vector<v1::AuditEvent>& events) {
  AppendResult result;
  if (events.empty()) return result;
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::Status st = writeTransaction([&](Head& head) -> absl::Status {
    if (head.seq < head.last_checkpoint) {
      return absl::FailedPreconditionError("audit store truncated: a checkpoint covers sequence " +
                                           std::to_string(head.last_checkpoint) +
                                           " but the last record is " + std::to_string(head.seq) +
                                           "; run verify and restore from backup");
    }
    return appendLocked(events, head, result);
  });
  if (!st.ok()) return st;
  return result;
}

absl::Status PgAuditStore::appendLocked(const std::vector<v1::AuditEvent>& events, Head& head,
                                        AppendResult& result) {
  std::vector<PreparedEvent> prepared;
  prepared.reserve(events.size());
  for (const v1::AuditEvent& event : events) {
    prepared.push_back(prepareEvent(event, nowMicros(), result));
  }
  auto stored = storedSources(writer_, prepared);
  if (!stored.ok()) return stored.status();
  std::map<SourceKey, uint64_t>& known = *stored;  // grows with this batch's own events
  std::vector<Row> rows;
  std::vector<std::pair<uint64_t, Hash>> periodic;
  rows.reserve(prepared.size());
  for (size_t i = 0; i < prepared.size(); ++i) {
    const IndexColumns& c = prepared[i].columns;
    SourceKey key{pgText(c.source), c.source_sequence};
    if (c.source_sequence != 0) {
      if (auto it = known.find(key); it != known.end()) {
        result.sequences.push_back(it->second);
        result.duplicate.push_back(true);
        continue;
      }
    }
    const uint64_t seq = head.seq + 1;
    auto chained = chainRecord(prepared[i].event, seq, head.hash, i);
    if (!chained.ok()) return chained.status();
    if (c.source_sequence != 0) known[std::move(key)] = seq;
    rows.push_back(Row{seq, std::move(*chained), head.hash, &prepared[i]});
    head.seq = seq;
    head.hash = rows.back().rec.hash;
    result.sequences.push_back(seq);
    result.duplicate.push_back(false);
    if (options_.checkpoint_every > 0 && seq - head.last_checkpoint >= options_.checkpoint_every) {
      periodic.emplace_back(seq, head.hash);
      head.last_checkpoint = seq;
    }
  }
  if (absl::Status st = insertRows(writer_, rows); !st.ok()) return st;
  for (const auto& [seq, hash] : periodic) {
    if (absl::Status st = insertCheckpoint(CheckpointKind::kPeriodic, seq, hash); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status PgAuditStore::insertCheckpoint(CheckpointKind kind, uint64_t sequence,
                                            const Hash& hash) {
  Checkpoint cp{kind, sequence, hash, nowMicros()};
  auto sig = key_->sign(checkpointMessage(cp));
  if (!sig.ok()) return sig.status();
  PgParams params;
  params.add(static_cast<int64_t>(kind))
      .add(static_cast<int64_t>(sequence))
      .addBytes(hashBytes(hash))
      .add(cp.time_us)
      .add(key_->keyId())
      .addBytes(*sig);
  return writer_
      .query(
          "INSERT INTO audit_checkpoints(kind, up_to_seq, record_hash, time_us, key_id,"
          " signature) VALUES($1, $2, $3, $4, $5, $6)",
          params)
      .status();
}

absl::StatusOr<uint64_t> PgAuditStore::checkpoint() {
  std::lock_guard<std::mutex> lock(write_mu_);
  uint64_t at = 0;
  absl::Status st = writeTransaction([&](Head& head) -> absl::Status {
    at = head.seq;
    if (at == 0) return absl::OkStatus();
    return insertCheckpoint(CheckpointKind::kManual, head.seq, head.hash);
  });
  if (!st.ok()) return st;
  return at;
}

absl::StatusOr<PruneResult> PgAuditStore::pruneBefore(
    std::chrono::system_clock::time_point cutoff) {
  const int64_t cutoff_us = unixMicros(cutoff);
  std::lock_guard<std::mutex> lock(write_mu_);
  PruneResult result;
  absl::Status st = writeTransaction([&](Head& head) -> absl::Status {
    auto bounds = writer_.query(
        "SELECT (SELECT MIN(seq) FROM audit_records),"
        " (SELECT MIN(seq) FROM audit_records WHERE time_us >= $1)",
        std::move(PgParams().add(cutoff_us)));
    if (!bounds.ok()) return bounds.status();
    if (bounds->isNull(0, 0)) return absl::OkStatus();
    const uint64_t first = static_cast<uint64_t>(bounds->i64(0, 0));
    const uint64_t last =
        bounds->isNull(0, 1) ? head.seq : static_cast<uint64_t>(bounds->i64(0, 1)) - 1;
    if (last < first) return absl::OkStatus();
    auto anchor = writer_.query("SELECT record_hash FROM audit_records WHERE seq = $1",
                                std::move(PgParams().add(static_cast<int64_t>(last))));
    if (!anchor.ok()) return anchor.status();
    if (anchor->rows() == 0) {
      return absl::FailedPreconditionError("audit record " + std::to_string(last) +
                                           " is missing; run verify before retention");
    }
    auto hash = hashFromBytes(anchor->bytes(0, 0));
    if (!hash.ok()) return hash.status();
    if (absl::Status s = insertCheckpoint(CheckpointKind::kRetention, last, *hash); !s.ok()) {
      return s;
    }
    for (const char* sql :
         {"DELETE FROM audit_rules WHERE seq <= $1", "DELETE FROM audit_records WHERE seq <= $1"}) {
      auto r = writer_.query(sql, std::move(PgParams().add(static_cast<int64_t>(last))));
      if (!r.ok()) return r.status();
    }
    result.first_pruned = first;
    result.last_pruned = last;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return result;
}

}  // namespace tollgate::controlplane::audit
