// The control plane's shared domain objects, built from config, owned in one place.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/audit/audit_store.h"
#include "controlplane/core/approval_manager.h"
#include "controlplane/core/auditor.h"
#include "controlplane/core/credential_directory.h"
#include "controlplane/core/grant_manager.h"
#include "controlplane/core/policy_registry.h"
#include "controlplane/core/session_registry.h"
#include "controlplane/core/state_store.h"
#include "controlplane/identity/authenticator.h"

namespace tollgate::controlplane::core {

struct ControlPlaneOptions {
  std::string data_dir;
  // Applied as version 1 when the state store holds no policy.
  std::string policy_file;
  // Directory of secret files; empty: no credentials brokered.
  std::string credentials_dir;
  std::string replica_name = "controlplane-0";
  // Pending-approval announcements; empty url: none.
  WebhookOptions webhook;
  // Audit backend: empty: the SQLite store in data_dir; otherwise the PostgreSQL store at this
  // libpq connection string (shared by replicas; may hold a password, never logged).
  std::string audit_pg_dsn;
  // Checkpoint key (PEM Ed25519); empty: <data_dir>/audit-signing-key.pem. Generated when
  // missing if audit_create_key, else a missing key fails create() with FAILED_PRECONDITION.
  std::string audit_key_path;
  bool audit_create_key = true;
  // Audit: retention (records older are pruned about hourly) and checkpoint period.
  std::chrono::hours audit_retention = audit::kDefaultRetention;
  uint64_t audit_checkpoint_every = 1000;
  ClockPtr clock;  // null: system clock
};

// Owns the audit store, authenticator, state store and managers; start() loads state and
// starts the background threads, stop() ends them (also done by the destructor). Accessors
// are valid between create() and destruction; every object they return is thread-safe.
class ControlPlane {
 public:
  // Opens <data_dir>/state.db and, when `audit_store` is null, the audit store the options
  // name (SQLite in data_dir, or PostgreSQL; an unreachable or refusing server is UNAVAILABLE,
  // the message naming host and database but never the password); loads state; applies the
  // initial policy when needed; starts threads. Appends an EVENT_AUDIT_STARTED record.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> create(
      ControlPlaneOptions options, std::unique_ptr<identity::Authenticator> authenticator,
      audit::AuditStorePtr audit_store = nullptr);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Stops threads; appends EVENT_AUDIT_STOPPED. Idempotent.
  void stop();

  // Appends a control-plane event (id, time, source "controlplane/<replica>" filled in).
  absl::Status audit(v1::AuditEvent event) { return auditor_->record(std::move(event)); }

  const ClockPtr& clock() const { return clock_; }
  const std::string& replicaName() const { return options_.replica_name; }
  audit::AuditStore& auditStore() { return *audit_store_; }
  Auditor& auditor() { return *auditor_; }
  identity::Authenticator& authenticator() { return *authenticator_; }
  StateStore& stateStore() { return *state_; }
  PolicyRegistry& policies() { return *policies_; }
  ApprovalManager& approvals() { return *approvals_; }
  GrantManager& grants() { return *grants_; }
  SessionRegistry& sessions() { return *sessions_; }
  CredentialDirectory& credentials() { return *credentials_; }

 private:
  explicit ControlPlane(ControlPlaneOptions options) : options_(std::move(options)) {}
  absl::Status init();
  // Opens the SQLite or PostgreSQL audit store named by the options.
  absl::Status openAuditStore();
  void retentionLoop();

  ControlPlaneOptions options_;
  ClockPtr clock_;
  audit::AuditStorePtr audit_store_;
  std::unique_ptr<identity::Authenticator> authenticator_;
  std::unique_ptr<Auditor> auditor_;
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<PolicyRegistry> policies_;
  std::unique_ptr<ApprovalManager> approvals_;
  std::unique_ptr<GrantManager> grants_;
  std::unique_ptr<SessionRegistry> sessions_;
  std::unique_ptr<CredentialDirectory> credentials_;
  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool stopping_ = false;
  std::thread retention_thread_;
};

}  // namespace tollgate::controlplane::core
