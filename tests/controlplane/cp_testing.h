// Shared helpers for the control-plane core and service tests: a policy, identities, a clock.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "common/clock.h"
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

// A ControlPlane over `dir` with the test policy as its initial file, no issuers.
inline std::unique_ptr<core::ControlPlane> makeControlPlane(const tollgate::testing::TempDir& dir,
                                                            std::shared_ptr<Clock> clock,
                                                            core::WebhookOptions webhook = {}) {
  core::ControlPlaneOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.policy_file = dir.write("policy.yaml", kPolicy);
  options.credentials_dir = (dir.path() / "secrets").string();
  options.replica_name = "test";
  options.webhook = webhook;
  options.clock = clock;
  auto auth = identity::Authenticator::createWithSources({}, {}, clock);
  REQUIRE(auth.ok());
  auto cp = core::ControlPlane::create(options, *std::move(auth));
  INFO(cp.status().ToString());
  REQUIRE(cp.ok());
  return *std::move(cp);
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
