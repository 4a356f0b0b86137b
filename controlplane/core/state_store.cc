// StateStore over SQLite: one table per object kind, protobuf bytes keyed by id.
#include "controlplane/core/state_store.h"

#include <filesystem>

namespace tollgate::controlplane::core {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS policy_versions (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS grants (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, data BLOB NOT NULL);
)sql";

template <typename Message>
absl::StatusOr<std::vector<Message>> parseAll(absl::StatusOr<std::vector<std::string>> rows,
                                              const char* what) {
  if (!rows.ok()) return rows.status();
  std::vector<Message> out;
  out.reserve(rows->size());
  for (const auto& bytes : *rows) {
    Message m;
    if (!m.ParseFromString(bytes)) {
      return absl::DataLossError(std::string("state store: a stored ") + what + " does not decode");
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::open(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return absl::FailedPreconditionError(data_dir + ": cannot create: " + ec.message());
  std::string path = (std::filesystem::path(data_dir) / "state.db").string();
  auto db = audit::Db::open(path, true);
  if (!db.ok()) return db.status();
  if (auto st = db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"); !st.ok()) {
    return absl::FailedPreconditionError(path + ": " + std::string(st.message()));
  }
  if (auto st = db->exec(kSchema); !st.ok()) {
    return absl::FailedPreconditionError(path + ": " + std::string(st.message()));
  }
  return std::unique_ptr<StateStore>(new StateStore(*std::move(db), path));
}

absl::Status StateStore::put(const char* table, const std::string& key, const std::string& bytes) {
  std::lock_guard lock(mu_);
  auto stmt =
      db_.prepare(std::string("INSERT OR REPLACE INTO ") + table + " (id, data) VALUES (?, ?)");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, std::string_view(key)).bindBlob(2, bytes);
  return stmt->run();
}

absl::StatusOr<std::vector<std::string>> StateStore::loadAll(const char* table,
                                                             const char* order_by) {
  std::lock_guard lock(mu_);
  auto stmt = db_.prepare(std::string("SELECT data FROM ") + table + " ORDER BY " + order_by);
  if (!stmt.ok()) return stmt.status();
  std::vector<std::string> out;
  while (true) {
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.emplace_back(stmt->blob(0));
  }
  return out;
}

absl::Status StateStore::putPolicyVersion(const v1::PolicyVersion& version) {
  std::lock_guard lock(mu_);
  auto stmt = db_.prepare("INSERT OR REPLACE INTO policy_versions (id, data) VALUES (?, ?)");
  if (!stmt.ok()) return stmt.status();
  stmt->bind(1, static_cast<int64_t>(version.version())).bindBlob(2, version.SerializeAsString());
  return stmt->run();
}

absl::StatusOr<std::vector<v1::PolicyVersion>> StateStore::loadPolicyVersions() {
  return parseAll<v1::PolicyVersion>(loadAll("policy_versions", "id"), "policy version");
}

absl::Status StateStore::putGrant(const v1::Grant& grant) {
  return put("grants", grant.id(), grant.SerializeAsString());
}

absl::StatusOr<std::vector<v1::Grant>> StateStore::loadGrants() {
  return parseAll<v1::Grant>(loadAll("grants", "rowid"), "grant");
}

absl::Status StateStore::putApproval(const v1::Approval& approval) {
  return put("approvals", approval.id(), approval.SerializeAsString());
}

absl::StatusOr<std::vector<v1::Approval>> StateStore::loadApprovals() {
  return parseAll<v1::Approval>(loadAll("approvals", "rowid"), "approval");
}

absl::Status StateStore::putSession(const v1::Session& session) {
  return put("sessions", session.id(), session.SerializeAsString());
}

absl::StatusOr<std::vector<v1::Session>> StateStore::loadSessions() {
  return parseAll<v1::Session>(loadAll("sessions", "rowid"), "session");
}

}  // namespace tollgate::controlplane::core
