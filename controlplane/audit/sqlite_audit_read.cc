// SqliteAuditStore read paths: get, search (keyset pages) and streaming export.
#include "controlplane/audit/sqlite_audit_store.h"

#include <algorithm>
#include <variant>

namespace tollgate::controlplane::audit {
namespace {

constexpr const char* kSelectRecord =
    "SELECT seq, payload, prev_hash, record_hash FROM audit_records";
constexpr uint32_t kExportPage = 256;

// The record of the current row (columns as in kSelectRecord) with its hashes filled in.
absl::StatusOr<v1::AuditEvent> rowEvent(const Stmt& stmt) {
  const int64_t seq = stmt.i64(0);
  auto event = decodeRecord(stmt.blob(1));
  auto prev = hashFromBytes(stmt.blob(2));
  auto hash = hashFromBytes(stmt.blob(3));
  if (!event.ok() || !prev.ok() || !hash.ok() || event->sequence() != static_cast<uint64_t>(seq)) {
    return absl::DataLossError("audit record " + std::to_string(seq) + " is damaged; run verify");
  }
  event->set_prev_hash(hashHex(*prev));
  event->set_record_hash(hashHex(*hash));
  return event;
}

// Returns a pooled reader connection to the pool when it goes out of scope.
template <typename Release>
class Lease {
 public:
  Lease(Db db, Release release) : db_(std::move(db)), release_(release) {}
  ~Lease() { release_(std::move(db_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Db& db() { return db_; }

 private:
  Db db_;
  Release release_;
};

}  // namespace

absl::StatusOr<uint64_t> SqliteAuditStore::queryPage(Db& db, const SearchFilter& filter,
                                                     uint32_t limit,
                                                     std::vector<v1::AuditEvent>& out) {
  SqlWhere where = buildWhere(filter);
  auto stmt =
      db.prepare(std::string(kSelectRecord) + " WHERE " + where.clause + " ORDER BY seq LIMIT ?");
  if (!stmt.ok()) return stmt.status();
  int index = 1;
  for (const auto& param : where.params) {
    if (const auto* i = std::get_if<int64_t>(&param)) {
      stmt->bind(index++, *i);
    } else {
      stmt->bind(index++, std::get<std::string>(param));
    }
  }
  stmt->bind(index, static_cast<int64_t>(limit));
  uint64_t last = 0;
  for (;;) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto event = rowEvent(*stmt);
    if (!event.ok()) return event.status();
    last = event->sequence();
    out.push_back(std::move(*event));
  }
  return last;
}

absl::StatusOr<v1::AuditEvent> SqliteAuditStore::get(uint64_t sequence) {
  auto db = acquireReader();
  if (!db.ok()) return db.status();
  Lease lease(std::move(*db), [this](Db d) { releaseReader(std::move(d)); });
  auto stmt = lease.db().prepare(std::string(kSelectRecord) + " WHERE seq = ?");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, static_cast<int64_t>(sequence));
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError("no audit record " + std::to_string(sequence));
  return rowEvent(*stmt);
}

absl::StatusOr<uint64_t> SqliteAuditStore::storedThroughSequence(const std::string& source) {
  auto db = acquireReader();
  if (!db.ok()) return db.status();
  Lease lease(std::move(*db), [this](Db d) { releaseReader(std::move(d)); });
  // The partial unique index on (source, source_seq) answers this from the index alone.
  auto stmt = lease.db().prepare(
      "SELECT CASE WHEN COUNT(*) = MAX(source_seq) THEN MAX(source_seq) ELSE 0 END"
      " FROM audit_records WHERE source = ? AND source_seq <> 0");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, source);
  auto row = stmt->step();
  if (!row.ok()) return row.status();
  if (!*row) return uint64_t{0};
  return static_cast<uint64_t>(stmt->i64(0));
}

absl::StatusOr<v1::SearchAuditResponse> SqliteAuditStore::search(const SearchFilter& filter) {
  const uint32_t limit =
      filter.limit == 0 ? kDefaultSearchLimit : std::min(filter.limit, kMaxSearchLimit);
  auto db = acquireReader();
  if (!db.ok()) return db.status();
  Lease lease(std::move(*db), [this](Db d) { releaseReader(std::move(d)); });
  std::vector<v1::AuditEvent> events;
  // One extra row tells whether another page exists.
  auto last = queryPage(lease.db(), filter, limit + 1, events);
  if (!last.ok()) return last.status();
  v1::SearchAuditResponse response;
  const bool more = events.size() > limit;
  if (more) {
    events.resize(limit);
    response.set_next_page_token(encodePageToken(events.back().sequence()));
  }
  for (auto& event : events) *response.add_events() = std::move(event);
  return response;
}

absl::Status SqliteAuditStore::exportRecords(const SearchFilter& filter,
                                             const ExportCallback& callback) {
  auto db = acquireReader();
  if (!db.ok()) return db.status();
  Lease lease(std::move(*db), [this](Db d) { releaseReader(std::move(d)); });
  SearchFilter page = filter;
  std::vector<v1::AuditEvent> events;
  events.reserve(kExportPage);
  // Pages keep memory bounded and no read transaction open while the callback runs.
  for (;;) {
    events.clear();
    auto last = queryPage(lease.db(), page, kExportPage, events);
    if (!last.ok()) return last.status();
    for (const auto& event : events) {
      if (absl::Status st = callback(event); !st.ok()) return st;
    }
    if (events.size() < kExportPage) return absl::OkStatus();
    page.after_sequence = *last;
  }
}

}  // namespace tollgate::controlplane::audit
