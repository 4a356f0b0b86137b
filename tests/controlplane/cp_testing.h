// Shared helpers for the control-plane core and service tests: a policy, identities, a clock.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "common/clock.h"
#include "controlplane/audit/sqlite_audit_store.h"
#include "controlplane/core/control_plane.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::testing {

// A clock tests move by hand that background threads may read concurrently.
class SharedManualClock : public Clock {
 public:
  explicit SharedManualClock(int64_t start_seconds = 1735689600)
      : offset_ns_(0),
        start_(std::chrono::system_clock::time_point(std::chrono::seconds(start_seconds))) {}
  std::chrono::system_clock::time_point now() const override {
    return start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::nanoseconds(offset_ns_.load()));
  }
  std::chrono::steady_clock::time_point monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(offset_ns_.load()));
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }

 private:
  std::atomic<int64_t> offset_ns_;
  std::chrono::system_clock::time_point start_;
};

inline constexpr const char* kPolicy = R"(version: 1
resources:
  - name: db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432, tls: disable}
    credentials: {secret: db-secret}
access:
  - name: ci-read
    subjects: [{serviceAccount: "ci/*"}]
    resources: [db]
    role: read
    maxDuration: 15m
    approval: none
  - name: ops-write
    subjects: [{serviceAccount: "ops/*"}]
    resources: [db]
    role: write
    maxDuration: 30m
    approval: required
    approvers: {group: dba, count: 2, timeout: 10m}
guardrails:
  - {name: no-ddl, match: {class: [ddl]}, action: block}
masking:
  rules:
    - {name: pan, detector: pan, action: {type: pci, keepFirst: 6, keepLast: 4}}
)";

inline v1::Identity workload(const std::string& ns, const std::string& sa,
                             const std::string& pod_uid) {
  v1::Identity id;
  id.set_kind(v1::Identity::KIND_WORKLOAD);
  id.set_issuer("https://kubernetes.default.svc");
  id.set_subject("system:serviceaccount:" + ns + ":" + sa);
  id.set_namespace_(ns);
  id.set_service_account(sa);
  id.set_pod_name(sa + "-pod");
  id.set_pod_uid(pod_uid);
  id.set_principal_id(id.issuer() + "|" + id.subject() + "|" + pod_uid);
  return id;
}

inline v1::Identity human(const std::string& name, std::vector<std::string> roles,
                          std::vector<std::string> groups = {}) {
  v1::Identity id;
  id.set_kind(v1::Identity::KIND_HUMAN);
  id.set_issuer("https://login.example.com");
  id.set_subject(name);
  id.set_display_name(name + "@example.com");
  id.set_principal_id(id.issuer() + "|" + name);
  for (auto& r : roles) id.add_roles(r);
  for (auto& g : groups) id.add_groups(g);
  return id;
}

// What RefusingAuditStore refuses: nothing, every append, or (any other value) appends holding
// an event of that v1::EventType.
inline constexpr int kRefuseNone = 0;
inline constexpr int kRefuseAll = -1;

// A SQLite audit store that refuses appends (FAILED_PRECONDITION, as a store truncated below a
// checkpoint does) as `*refuse` says; everything else goes to the real store.
class RefusingAuditStore : public audit::AuditStore {
 public:
  RefusingAuditStore(audit::AuditStorePtr inner, std::shared_ptr<std::atomic<int>> refuse)
      : inner_(std::move(inner)), refuse_(std::move(refuse)) {}
  absl::StatusOr<audit::AppendResult> append(const std::vector<v1::AuditEvent>& events) override {
    const int refuse = *refuse_;
    for (const auto& e : events) {
      if (refuse == kRefuseAll || (refuse != kRefuseNone && e.type() == refuse)) {
        return absl::FailedPreconditionError("audit store refuses appends (test)");
      }
    }
    return inner_->append(events);
  }
  absl::StatusOr<v1::AuditEvent> get(uint64_t sequence) override { return inner_->get(sequence); }
  absl::StatusOr<v1::SearchAuditResponse> search(const audit::SearchFilter& filter) override {
    return inner_->search(filter);
  }
  absl::Status exportRecords(const audit::SearchFilter& filter,
                             const audit::ExportCallback& callback) override {
    return inner_->exportRecords(filter, callback);
  }
  absl::StatusOr<audit::VerifyReport> verify(uint64_t from, uint64_t to) override {
    return inner_->verify(from, to);
  }
  absl::StatusOr<uint64_t> checkpoint() override { return inner_->checkpoint(); }
  absl::StatusOr<audit::PruneResult> pruneBefore(
      std::chrono::system_clock::time_point cutoff) override {
    return inner_->pruneBefore(cutoff);
  }
  uint64_t headSequence() override { return inner_->headSequence(); }
  absl::StatusOr<uint64_t> storedThroughSequence(const std::string& source) override {
    return inner_->storedThroughSequence(source);
  }

 private:
  audit::AuditStorePtr inner_;
  std::shared_ptr<std::atomic<int>> refuse_;
};

// A ControlPlane over `dir` with the test policy as its initial file, no issuers.
// `audit_store` null: the SQLite audit store in the data directory.
inline std::unique_ptr<core::ControlPlane> makeControlPlane(const tollgate::testing::TempDir& dir,
                                                            std::shared_ptr<Clock> clock,
                                                            core::WebhookOptions webhook = {},
                                                            audit::AuditStorePtr audit_store = {}) {
  core::ControlPlaneOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.policy_file = dir.write("policy.yaml", kPolicy);
  options.credentials_dir = (dir.path() / "secrets").string();
  options.replica_name = "test";
  options.webhook = webhook;
  options.clock = clock;
  auto auth = identity::Authenticator::createWithSources({}, {}, clock);
  REQUIRE(auth.ok());
  auto cp = core::ControlPlane::create(options, *std::move(auth), std::move(audit_store));
  INFO(cp.status().ToString());
  REQUIRE(cp.ok());
  return *std::move(cp);
}

// A ControlPlane as makeControlPlane() makes it whose audit store refuses appends while
// `*refuse` says (kRefuseNone, kRefuseAll or an event type).
inline std::unique_ptr<core::ControlPlane> makeControlPlaneRefusingAudit(
    const tollgate::testing::TempDir& dir, std::shared_ptr<Clock> clock,
    std::shared_ptr<std::atomic<int>> refuse) {
  audit::SqliteAuditStoreOptions ao;
  ao.data_dir = (dir.path() / "data").string();
  ao.clock = clock;
  auto inner = audit::SqliteAuditStore::open(ao);
  REQUIRE(inner.ok());
  return makeControlPlane(
      dir, std::move(clock), {},
      std::make_unique<RefusingAuditStore>(*std::move(inner), std::move(refuse)));
}

// Count of audit records of `type` in the store.
inline size_t countEvents(audit::AuditStore& store, v1::EventType type) {
  audit::SearchFilter f;
  f.types = {type};
  f.limit = audit::kMaxSearchLimit;
  auto r = store.search(f);
  REQUIRE(r.ok());
  return static_cast<size_t>(r->events_size());
}

}  // namespace tollgate::controlplane::testing
