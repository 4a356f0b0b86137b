// The versioned policy store: apply with validation, history, rollback, and change notification.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/core/auditor.h"
#include "controlplane/core/state_store.h"
#include "controlplane/core/subscribers.h"
#include "policy/compiled_policy.h"
#include "tollgate/v1/identity.pb.h"
#include "tollgate/v1/policy.pb.h"

namespace tollgate::controlplane::core {

// One policy version with its compiled form. Immutable once published.
struct PolicySnapshot {
  v1::PolicyVersion version;
  policy::CompiledPolicyPtr compiled;
};
using PolicySnapshotPtr = std::shared_ptr<const PolicySnapshot>;

// Validates `yaml` with the policy loader and compiler. Returns the compiled policy, or the
// problems with their 1-based line and column (0 when unknown) in `errors`.
policy::CompiledPolicyPtr validatePolicyYaml(const std::string& yaml,
                                             std::vector<v1::PolicyError>* errors);

// The policy versions 1, 2, 3, ... persisted in the StateStore. Thread-safe.
class PolicyRegistry {
 public:
  PolicyRegistry(StateStore& store, Auditor& auditor, ClockPtr clock)
      : store_(store), auditor_(auditor), clock_(std::move(clock)) {}

  // Loads the stored versions (the highest becomes current). When the store holds none and
  // `initial_policy_file` is not empty, that file is applied as version 1 (author the control
  // plane itself). An invalid stored or initial policy is an error naming the problem.
  absl::Status init(const std::string& initial_policy_file);

  // The current version, or nullptr when no policy was ever applied.
  PolicySnapshotPtr current() const;

  // Validates and (unless request.dry_run) stores a new version = current + 1 with sha256,
  // author (principal id, and display name when known, as "display (principal)") and comment,
  // makes it current, audits EVENT_POLICY_APPLIED ("policy version N applied") and notifies
  // subscribers. Invalid YAML: OK status with `errors` filled and nothing stored (callers turn
  // it into INVALID_ARGUMENT). Errors: FAILED_PRECONDITION when expected_version is non-zero and
  // differs from the current version (nothing stored), UNAVAILABLE when the audit record cannot
  // be written (it is written first; nothing stored or made current then), INTERNAL when the
  // state store fails (a failure record follows the applied one in the audit trail).
  // A dry run with valid YAML returns `applied` with version 0 (not stored, not notified).
  absl::StatusOr<v1::ApplyPolicyResponse> apply(const v1::ApplyPolicyRequest& request,
                                                const v1::Identity& author);

  // Version `version` (0: the current one). NOT_FOUND when absent or no policy exists yet.
  absl::StatusOr<v1::PolicyVersion> get(uint64_t version) const;

  // Newest first, at most `limit` entries (0: 50), with `yaml` cleared.
  std::vector<v1::PolicyVersion> history(uint32_t limit) const;

  // Creates a new version whose YAML equals version `to_version`, with rolled_back_from =
  // the version that was current before, audits EVENT_POLICY_ROLLED_BACK and notifies.
  // NOT_FOUND for an unknown version; FAILED_PRECONDITION when it no longer compiles;
  // UNAVAILABLE and INTERNAL as for apply().
  absl::StatusOr<v1::PolicyVersion> rollback(uint64_t to_version, const std::string& comment,
                                             const v1::Identity& author);

  // `callback(snapshot)` after every new current version (apply or rollback), on the thread
  // that made the change, after the version is stored and current.
  Subscription subscribe(std::function<void(const PolicySnapshotPtr&)> callback) {
    return subscribers_.add(std::move(callback));
  }

 private:
  absl::StatusOr<PolicySnapshotPtr> storeLocked(const std::string& yaml,
                                                policy::CompiledPolicyPtr compiled,
                                                const std::string& comment,
                                                const v1::Identity& author, uint64_t rolled_from);

  StateStore& store_;
  Auditor& auditor_;
  ClockPtr clock_;
  mutable std::mutex mu_;
  std::vector<v1::PolicyVersion> versions_;  // ascending, versions_[i].version == i + 1
  PolicySnapshotPtr current_;
  Subscribers<PolicySnapshotPtr> subscribers_;
};

}  // namespace tollgate::controlplane::core
