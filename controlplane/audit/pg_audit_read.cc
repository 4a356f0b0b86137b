// PgAuditStore read paths: get, search and export (keyset pages), verify, and the reader pool.
#include <algorithm>
#include <variant>

#include "controlplane/audit/chain_verifier.h"
#include "controlplane/audit/pg_audit_store.h"

namespace tollgate::controlplane::audit {
namespace {

constexpr const char* kSelectRecord =
    "SELECT seq, payload, prev_hash, record_hash FROM audit_records";
constexpr uint32_t kExportPage = 256;
constexpr int64_t kVerifyPage = 1000;

// The record of a result row (columns as in kSelectRecord) with its hashes filled in.
absl::StatusOr<v1::AuditEvent> rowEvent(const PgResult& r, int row) {
  const int64_t seq = r.i64(row, 0);
  auto event = decodeRecord(r.bytes(row, 1));
  auto prev = hashFromBytes(r.bytes(row, 2));
  auto hash = hashFromBytes(r.bytes(row, 3));
  if (!event.ok() || !prev.ok() || !hash.ok() || event->sequence() != static_cast<uint64_t>(seq)) {
    return absl::DataLossError("audit record " + std::to_string(seq) + " is damaged; run verify");
  }
  event->set_prev_hash(hashHex(*prev));
  event->set_record_hash(hashHex(*hash));
  return event;
}

inline const absl::Status& statusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& statusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// What PostgreSQL holds for derived columns (NUL cannot be stored in text).
IndexColumns pgColumns(IndexColumns c) {
  for (std::string* s :
       {&c.principal_id, &c.subject, &c.resource, &c.session_id, &c.source, &c.text}) {
    *s = pgText(std::move(*s));
  }
  return c;
}

// Returns a pooled reader connection to the pool when it goes out of scope.
template <typename Release>
class Lease {
 public:
  Lease(PgConn conn, Release release) : conn_(std::move(conn)), release_(release) {}
  ~Lease() { release_(std::move(conn_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  PgConn& conn() { return conn_; }

 private:
  PgConn conn_;
  Release release_;
};

// Verify over one REPEATABLE READ snapshot on `conn`; records are read in keyset pages so
// memory does not grow with the trail.
absl::StatusOr<VerifyReport> verifySnapshot(PgConn& conn, const CheckpointKey& key, uint64_t from,
                                            uint64_t to) {
  ChainVerifier v(key, from, to, pgColumns);
  {
    auto r = conn.query(
        "SELECT id, kind, up_to_seq, record_hash, time_us, key_id, signature"
        " FROM audit_checkpoints ORDER BY id",
        PgParams());
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      v.addCheckpoint({r->i64(i, 0), r->i64(i, 1), static_cast<uint64_t>(r->i64(i, 2)),
                       r->bytes(i, 3), r->i64(i, 4), r->bytes(i, 5), r->bytes(i, 6)});
    }
  }
  HashLookup lookup = [&](uint64_t seq) -> absl::StatusOr<std::optional<std::string>> {
    auto r = conn.query("SELECT record_hash FROM audit_records WHERE seq = $1",
                        PgParams().add(static_cast<int64_t>(seq)));
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::string(r->bytes(0, 0)));
  };
  if (absl::Status st = v.beginRecords(lookup); !st.ok()) return st;
  // Every row from the start, plus the first one after `to` to see a gap reaching past it.
  int64_t next = static_cast<int64_t>(v.recordsFrom());
  for (bool more = true; more;) {
    auto r = conn.query(
        "SELECT seq, payload, prev_hash, record_hash, time_us, event_type, decision,"
        " principal_id, subject, resource, session_id, source, source_seq, text"
        " FROM audit_records WHERE seq >= $1 ORDER BY seq LIMIT $2",
        PgParams().add(next).add(kVerifyPage));
    if (!r.ok()) return r.status();
    auto s = [&](int i, int c) { return std::string(r->bytes(i, c)); };
    for (int i = 0; i < r->rows() && more; ++i) {
      StoredRecord rec{static_cast<uint64_t>(r->i64(i, 0)),
                       r->bytes(i, 1),
                       r->bytes(i, 2),
                       r->bytes(i, 3),
                       {r->i64(i, 4), r->i64(i, 5), r->i64(i, 6), s(i, 7), s(i, 8), s(i, 9),
                        s(i, 10), s(i, 11), r->i64(i, 12), s(i, 13)}};
      more = v.addRecord(rec);
      next = r->i64(i, 0) + 1;
    }
    if (r->rows() < kVerifyPage) more = false;
  }
  return v.finish(lookup);
}

}  // namespace

absl::StatusOr<PgConn> PgAuditStore::acquireReader(bool* pooled) {
  if (pooled != nullptr) *pooled = false;
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    while (!idle_readers_.empty()) {
      PgConn conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      if (!conn.healthy()) continue;
      if (pooled != nullptr) *pooled = true;
      return conn;
    }
  }
  return PgConn::connect(dsn_);
}

template <typename Fn>
auto PgAuditStore::withReader(Fn&& fn, const bool* no_retry)
    -> decltype(fn(std::declval<PgConn&>())) {
  for (int attempt = 0;; ++attempt) {
    bool pooled = false;
    auto conn = acquireReader(&pooled);
    if (!conn.ok()) return conn.status();
    Lease lease(std::move(*conn), [this](PgConn c) { releaseReader(std::move(c)); });
    auto result = fn(lease.conn());
    const bool retry = !result.ok() && pooled && attempt == 0 &&
                       (no_retry == nullptr || !*no_retry) &&
                       statusOf(result).code() == absl::StatusCode::kUnavailable;
    if (!retry) return result;
  }
}

void PgAuditStore::releaseReader(PgConn conn) {
  if (!conn.healthy()) return;
  conn.rollback();  // a failed call may have left its transaction open
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (idle_readers_.size() < options_.max_idle_readers) idle_readers_.push_back(std::move(conn));
}

absl::StatusOr<uint64_t> PgAuditStore::queryPage(PgConn& conn, const SearchFilter& filter,
                                                 uint32_t limit, std::vector<v1::AuditEvent>& out) {
  SqlWhere where = buildWhere(filter, SqlDialect::kPostgres);
  PgParams params;
  for (auto& param : where.params) {
    if (const auto* i = std::get_if<int64_t>(&param)) {
      params.add(*i);
    } else {
      params.add(pgText(std::move(std::get<std::string>(param))));
    }
  }
  params.add(static_cast<int64_t>(limit));
  auto r = conn.query(std::string(kSelectRecord) + " WHERE " + where.clause +
                          " ORDER BY seq LIMIT $" + std::to_string(params.size()),
                      params);
  if (!r.ok()) return r.status();
  uint64_t last = 0;
  for (int i = 0; i < r->rows(); ++i) {
    auto event = rowEvent(*r, i);
    if (!event.ok()) return event.status();
    last = event->sequence();
    out.push_back(std::move(*event));
  }
  return last;
}

absl::StatusOr<v1::AuditEvent> PgAuditStore::get(uint64_t sequence) {
  return withReader([&](PgConn& conn) -> absl::StatusOr<v1::AuditEvent> {
    auto r = conn.query(std::string(kSelectRecord) + " WHERE seq = $1",
                        PgParams().add(static_cast<int64_t>(sequence)));
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return absl::NotFoundError("no audit record " + std::to_string(sequence));
    return rowEvent(*r, 0);
  });
}

absl::StatusOr<v1::SearchAuditResponse> PgAuditStore::search(const SearchFilter& filter) {
  const uint32_t limit =
      filter.limit == 0 ? kDefaultSearchLimit : std::min(filter.limit, kMaxSearchLimit);
  return withReader([&](PgConn& conn) -> absl::StatusOr<v1::SearchAuditResponse> {
    std::vector<v1::AuditEvent> events;
    // One extra row tells whether another page exists.
    auto last = queryPage(conn, filter, limit + 1, events);
    if (!last.ok()) return last.status();
    v1::SearchAuditResponse response;
    if (events.size() > limit) {
      events.resize(limit);
      response.set_next_page_token(encodePageToken(events.back().sequence()));
    }
    for (auto& event : events) *response.add_events() = std::move(event);
    return response;
  });
}

absl::Status PgAuditStore::exportRecords(const SearchFilter& filter,
                                         const ExportCallback& callback) {
  bool delivered = false;  // no retry once the callback saw records
  return withReader(
      [&](PgConn& conn) -> absl::Status {
        SearchFilter page = filter;
        std::vector<v1::AuditEvent> events;
        events.reserve(kExportPage);
        // Keyset pages keep memory bounded and hold no snapshot while the callback runs.
        for (;;) {
          events.clear();
          auto last = queryPage(conn, page, kExportPage, events);
          if (!last.ok()) return last.status();
          for (const auto& event : events) {
            delivered = true;
            if (absl::Status st = callback(event); !st.ok()) return st;
          }
          if (events.size() < kExportPage) return absl::OkStatus();
          page.after_sequence = *last;
        }
      },
      &delivered);
}

absl::StatusOr<VerifyReport> PgAuditStore::verify(uint64_t from, uint64_t to) {
  return withReader([&](PgConn& conn) -> absl::StatusOr<VerifyReport> {
    if (auto st = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st.ok()) {
      return st.status();
    }
    auto report = verifySnapshot(conn, *key_, from, to);
    conn.rollback();
    return report;
  });
}

absl::StatusOr<uint64_t> PgAuditStore::storedThroughSequence(const std::string& source) {
  return withReader([&](PgConn& conn) -> absl::StatusOr<uint64_t> {
    // The partial unique index on (source, source_seq) answers this from the index alone.
    auto r = conn.query(
        "SELECT CASE WHEN COUNT(*) = MAX(source_seq) THEN MAX(source_seq) ELSE 0 END"
        " FROM audit_records WHERE source = $1 AND source_seq <> 0",
        PgParams().add(pgText(source)));
    if (!r.ok()) return r.status();
    return static_cast<uint64_t>(r->i64(0, 0));
  });
}

uint64_t PgAuditStore::headSequence() {
  auto head = withReader([&](PgConn& conn) -> absl::StatusOr<uint64_t> {
    auto r = conn.query(
        "SELECT GREATEST((SELECT MAX(seq) FROM audit_records),"
        " (SELECT MAX(up_to_seq) FROM audit_checkpoints WHERE kind = 3), 0)",
        PgParams());
    if (!r.ok()) return r.status();
    return static_cast<uint64_t>(r->i64(0, 0));
  });
  if (!head.ok()) return seen_head_.load();
  seen_head_.store(*head);
  return *head;
}

}  // namespace tollgate::controlplane::audit
