// Human approvals for grants and for single held statements: votes, thresholds, timeouts.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/core/auditor.h"
#include "controlplane/core/state_store.h"
#include "controlplane/core/subscribers.h"
#include "controlplane/core/webhook_notifier.h"
#include "policy/model.h"
#include "tollgate/v1/approval.pb.h"
#include "tollgate/v1/identity.pb.h"

namespace tollgate::controlplane::core {

// What a sidecar sends when a `review` guardrail holds a statement.
struct StatementApprovalInput {
  v1::Identity requester;  // the workload identity of the stream
  std::string resource;
  std::string statement;  // normalised (no literals)
  std::string statement_class;
  std::string rule;
  std::string session_id;
  std::string grant_id;
  policy::Approvers approvers;
};

// What the GrantManager asks for when an access rule requires approval.
struct GrantApprovalInput {
  v1::Identity requester;
  std::string resource;
  std::string grant_id;
  std::string role;  // "read" | "write" | "admin", shown to approvers in `statement`
  std::string rule;
  policy::Approvers approvers;
};

// All approvals (pending and decided) in memory, persisted in the StateStore. Rules:
//   - a voter holds the `approver` or `admin` role (bootstrap admin included);
//   - when the rule names a group, the voter's groups contain it (the bootstrap admin, which
//     has no groups, is exempt);
//   - a voter is never the requester (same principal_id, or same subject and issuer);
//   - one vote per principal;
//   - one deny decides DENIED; `required_approvals` distinct approvals decide APPROVED;
//   - no decision by the deadline: APPROVAL_TIMED_OUT (treated as denied); a vote at or after
//     the deadline is refused and times the approval out.
// A background thread times approvals out (checking at least every 200 ms, or call tick()).
// Thread-safe.
class ApprovalManager {
 public:
  // `webhook` may be null (no announcements).
  ApprovalManager(StateStore& store, Auditor& auditor, ClockPtr clock,
                  std::unique_ptr<WebhookNotifier> webhook);
  ~ApprovalManager();
  ApprovalManager(const ApprovalManager&) = delete;
  ApprovalManager& operator=(const ApprovalManager&) = delete;

  // Loads stored approvals (pending ones keep their deadline) and starts the timeout thread.
  absl::Status start();
  // Stops the thread (idempotent; also done by the destructor).
  void stop();

  // A new PENDING approval of KIND_STATEMENT with deadline = now + approvers.timeout_seconds.
  // Audited (EVENT_APPROVAL_REQUESTED), announced to the webhook, subscribers notified.
  // INVALID_ARGUMENT for an empty resource or statement; UNAVAILABLE when the audit record
  // cannot be written (it is written first: no approval is created then).
  absl::StatusOr<v1::Approval> createStatementApproval(const StatementApprovalInput& input);
  // The same for KIND_GRANT (used by GrantManager).
  absl::StatusOr<v1::Approval> createGrantApproval(const GrantApprovalInput& input);

  // Records a vote. Errors: NOT_FOUND (unknown id), FAILED_PRECONDITION (already decided: the
  // message names the state; or the deadline has passed: the approval is then timed out, as
  // tick() would have done, and the vote is not counted), PERMISSION_DENIED (not an approver, not
  // in the group, own request), ALREADY_EXISTS (this principal already voted), UNAVAILABLE when
  // the vote's audit record cannot be written (it is written first, under the lock: the vote is
  // not counted). Returns the updated approval.
  absl::StatusOr<v1::Approval> vote(const std::string& approval_id, const v1::Identity& voter,
                                    bool approve, const std::string& comment);

  // Marks a pending approval CANCELLED (its session or grant went away). NOT_FOUND for an
  // unknown id; a decided approval is returned unchanged.
  absl::StatusOr<v1::Approval> cancel(const std::string& approval_id, const std::string& why);

  absl::StatusOr<v1::Approval> get(const std::string& approval_id) const;
  // Pending ones (and decided ones when `include_decided`), optionally for one resource,
  // oldest first.
  std::vector<v1::Approval> list(bool include_decided, const std::string& resource) const;

  // Times out every pending approval whose deadline passed (clock time). Called by the thread;
  // public for tests that drive a ManualClock.
  void tick();

  // `callback(approval)` on every creation and state change (after it is stored).
  Subscription subscribe(std::function<void(const v1::Approval&)> callback) {
    return subscribers_.add(std::move(callback));
  }

 private:
  absl::StatusOr<v1::Approval> create(v1::Approval approval);
  // Stores and notifies a change whose audit record is already written (without mu_ held).
  void commit(const v1::Approval& approval);
  // Stores, audits and notifies a change that stands even when its record cannot be written
  // (time-outs and cancellations only take access away; the failure is logged). Without mu_.
  void publish(const v1::Approval& approval, v1::EventType type, const v1::Identity& who,
               const std::string& detail);
  // publish() of an approval just set APPROVAL_TIMED_OUT.
  void publishTimedOut(const v1::Approval& approval);
  void run();

  StateStore& store_;
  Auditor& auditor_;
  ClockPtr clock_;
  std::unique_ptr<WebhookNotifier> webhook_;
  mutable std::mutex mu_;
  std::map<std::string, v1::Approval> approvals_;
  Subscribers<v1::Approval> subscribers_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tollgate::controlplane::core
