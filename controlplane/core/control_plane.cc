// ControlPlane: builds the stores and managers in dependency order and runs audit retention.
#include "controlplane/core/control_plane.h"

#include <filesystem>

#include "common/log.h"
#include "controlplane/audit/pg_audit_store.h"
#include "controlplane/audit/sqlite_audit_store.h"
#include "controlplane/config.h"

namespace tollgate::controlplane::core {
namespace {

v1::Identity selfIdentity(const std::string& source) {
  v1::Identity id;
  id.set_issuer("tollgate:controlplane");
  id.set_subject(source);
  id.set_principal_id("tollgate:controlplane|" + source);
  return id;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::create(
    ControlPlaneOptions options, std::unique_ptr<identity::Authenticator> authenticator,
    audit::AuditStorePtr audit_store) {
  if (!authenticator) return absl::InvalidArgumentError("control plane needs an authenticator");
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(options)));
  cp->clock_ = cp->options_.clock ? cp->options_.clock : systemClock();
  cp->authenticator_ = std::move(authenticator);
  cp->audit_store_ = std::move(audit_store);
  if (auto st = cp->init(); !st.ok()) return st;
  return cp;
}

absl::Status ControlPlane::openAuditStore() {
  std::error_code ec;  // the default key lives there; the stores report their own failures
  if (!options_.data_dir.empty()) std::filesystem::create_directories(options_.data_dir, ec);
  const std::string key_path = !options_.audit_key_path.empty()
                                   ? options_.audit_key_path
                                   : options_.data_dir + "/audit-signing-key.pem";
  if (!options_.audit_create_key && !std::filesystem::exists(key_path)) {
    return absl::FailedPreconditionError("audit signing key " + key_path +
                                         " does not exist (provision it, or set "
                                         "audit.createKey: true for a single replica)");
  }
  if (options_.audit_pg_dsn.empty()) {
    audit::SqliteAuditStoreOptions ao;
    ao.data_dir = options_.data_dir;
    ao.key_path = key_path;
    ao.checkpoint_every = options_.audit_checkpoint_every;
    ao.clock = clock_;
    auto store = audit::SqliteAuditStore::open(ao);
    if (!store.ok()) return store.status();
    audit_store_ = *std::move(store);
    return absl::OkStatus();
  }
  const std::string& dsn = options_.audit_pg_dsn;
  auto where = describePgDsn(dsn);
  if (!where.ok()) return where.status();
  audit::PgAuditStoreOptions po;
  po.key_path = key_path;
  po.create_key_if_missing = options_.audit_create_key;
  po.checkpoint_every = options_.audit_checkpoint_every;
  po.clock = clock_;
  auto store = audit::openPgAuditStore(dsn, std::move(po));
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        "PostgreSQL audit store (" + *where +
                            "): " + redactPgDsn(std::string(store.status().message()), dsn));
  }
  audit_store_ = *std::move(store);
  return absl::OkStatus();
}

absl::Status ControlPlane::init() {
  if (!audit_store_) {
    if (auto st = openAuditStore(); !st.ok()) return st;
  }
  auditor_ = std::make_unique<Auditor>(audit_store_.get(), clock_, options_.replica_name);
  auto state = StateStore::open(options_.data_dir);
  if (!state.ok()) return state.status();
  state_ = *std::move(state);
  std::unique_ptr<WebhookNotifier> webhook;
  if (!options_.webhook.url.empty()) {
    if (auto st = WebhookNotifier::validate(options_.webhook); !st.ok()) return st;
    webhook = std::make_unique<WebhookNotifier>(options_.webhook);
  }
  policies_ = std::make_unique<PolicyRegistry>(*state_, *auditor_, clock_);
  approvals_ = std::make_unique<ApprovalManager>(*state_, *auditor_, clock_, std::move(webhook));
  grants_ = std::make_unique<GrantManager>(*state_, *auditor_, clock_, *policies_, *approvals_);
  sessions_ = std::make_unique<SessionRegistry>(*state_, *auditor_, clock_);
  credentials_ = std::make_unique<CredentialDirectory>(options_.credentials_dir, auditor_.get());

  auditor_
      ->record(v1::EVENT_AUDIT_STARTED, selfIdentity(auditor_->source()), "",
               "control plane " + options_.replica_name + " started", true)
      .IgnoreError();
  if (auto st = policies_->init(options_.policy_file); !st.ok()) return st;
  if (auto st = approvals_->start(); !st.ok()) return st;
  if (auto st = grants_->start(); !st.ok()) return st;
  if (auto st = sessions_->start(); !st.ok()) return st;
  credentials_->start();
  retention_thread_ = std::thread([this] { retentionLoop(); });
  return absl::OkStatus();
}

ControlPlane::~ControlPlane() { stop(); }

void ControlPlane::stop() {
  {
    std::lock_guard lock(retention_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  if (credentials_) credentials_->stop();
  if (grants_) grants_->stop();
  if (approvals_) approvals_->stop();
  if (auditor_) {
    auditor_
        ->record(v1::EVENT_AUDIT_STOPPED, selfIdentity(auditor_->source()), "",
                 "control plane " + options_.replica_name + " stopped", true)
        .IgnoreError();
  }
}

void ControlPlane::retentionLoop() {
  std::unique_lock lock(retention_mu_);
  while (!stopping_) {
    lock.unlock();
    auto cutoff = clock_->now() - options_.audit_retention;
    auto pruned = audit_store_->pruneBefore(cutoff);
    if (!pruned.ok()) {
      log::warn("audit retention failed", {{"error", std::string(pruned.status().message())}});
    } else if (pruned->first_pruned != 0) {
      log::info("audit retention pruned records", {{"from", std::to_string(pruned->first_pruned)},
                                                   {"to", std::to_string(pruned->last_pruned)}});
    }
    lock.lock();
    retention_cv_.wait_for(lock, std::chrono::hours(1), [this] { return stopping_; });
  }
}

}  // namespace tollgate::controlplane::core
