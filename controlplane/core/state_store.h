// Durable control-plane state (policy versions, grants, approvals, sessions) in SQLite WAL.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/audit/sqlite_db.h"
#include "tollgate/v1/approval.pb.h"
#include "tollgate/v1/grant.pb.h"
#include "tollgate/v1/policy.pb.h"
#include "tollgate/v1/session.pb.h"

namespace tollgate::controlplane::core {

// One SQLite file `<data_dir>/state.db` (journal_mode=WAL, synchronous=FULL) holding each
// object as its serialised protobuf, keyed by id (policy versions by number). The managers keep
// their working set in memory and write through here on every change; at start they load
// everything back. A put() replaces the stored object with the same key.
//
// Thread-safe: all calls are serialised on one connection.
class StateStore {
 public:
  // Creates the directory and the schema when missing. Errors name the file.
  static absl::StatusOr<std::unique_ptr<StateStore>> open(const std::string& data_dir);

  absl::Status putPolicyVersion(const v1::PolicyVersion& version);
  // Every stored version, ascending by version number.
  absl::StatusOr<std::vector<v1::PolicyVersion>> loadPolicyVersions();

  absl::Status putGrant(const v1::Grant& grant);
  absl::StatusOr<std::vector<v1::Grant>> loadGrants();

  absl::Status putApproval(const v1::Approval& approval);
  absl::StatusOr<std::vector<v1::Approval>> loadApprovals();

  absl::Status putSession(const v1::Session& session);
  absl::StatusOr<std::vector<v1::Session>> loadSessions();

  const std::string& path() const { return path_; }

 private:
  StateStore(audit::Db db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  absl::Status put(const char* table, const std::string& key, const std::string& bytes);
  absl::StatusOr<std::vector<std::string>> loadAll(const char* table, const char* order_by);

  std::mutex mu_;
  audit::Db db_;
  std::string path_;
};

}  // namespace tollgate::controlplane::core
