// Just-in-time grants: evaluate access rules, issue time-boxed grants, approvals, expiry, revoke.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/core/approval_manager.h"
#include "controlplane/core/auditor.h"
#include "controlplane/core/policy_registry.h"
#include "controlplane/core/state_store.h"
#include "controlplane/core/subscribers.h"
#include "tollgate/v1/grant.pb.h"
#include "tollgate/v1/identity.pb.h"

namespace tollgate::controlplane::core {

struct GrantRequestInput {
  // Authenticated caller (a workload on its stream, or a human through GrantService).
  v1::Identity requester;
  // Empty: the requester itself (a workload's subject, bound to its pod uid). Otherwise the
  // workload subject a human asks for ahead of time (e.g. "system:serviceaccount:ns:sa").
  std::string subject;
  std::string resource;
  // ROLE_UNSPECIFIED: the matching rule's role.
  v1::Role role = v1::ROLE_UNSPECIFIED;
  // Zero: the rule's maximum; longer than the maximum is capped to it.
  std::chrono::seconds duration{0};
  std::string reason;
};

// Access-rule evaluation and grant life cycle. Rules (see grant.proto):
//   - the policy's first access rule matching (subject identity, resource) decides; none ->
//     DENIED "no access rule matches ..."; a requested role above the rule's role -> DENIED
//     naming the rule;
//   - a workload asking for itself gets a grant bound to its pod uid; a human naming a
//     workload subject gets an unbound grant (bound on first use, see claimGrantsFor/bind);
//     a human asking for a subject other than its own needs `approver` or `admin` unless the
//     rule auto-grants (PERMISSION_DENIED-like DENIED otherwise);
//   - approval: none -> GRANTED (ACTIVE) at once; required -> PENDING_APPROVAL with a
//     KIND_GRANT approval (the rule's approvers), ACTIVE when approved, DENIED when denied,
//     timed out or cancelled. Expiry counts from activation.
//   - when an ACTIVE grant already covers the request (same subject, resource, role at least
//     the one asked, usable by the pod, more than 5 s left), it is returned instead of a new one.
// A background thread expires grants at expires_at (checks at least every 200 ms; tests can
// call tick()). Every change is stored, audited (EVENT_GRANT_ISSUED / DENIED / REVOKED /
// EXPIRED) and passed to subscribers. A grant is issued or activated only after its
// EVENT_GRANT_ISSUED record is written (PCI DSS 10.2); changes that take access away (denial,
// revocation, expiry) stand even when their record cannot be written, and say so. Thread-safe.
class GrantManager {
 public:
  GrantManager(StateStore& store, Auditor& auditor, ClockPtr clock, PolicyRegistry& policies,
               ApprovalManager& approvals);
  ~GrantManager();
  GrantManager(const GrantManager&) = delete;
  GrantManager& operator=(const GrantManager&) = delete;

  // Loads stored grants, subscribes to grant approvals, starts the expiry thread.
  absl::Status start();
  void stop();

  // Decides a request: problems are DENIED with a message (an empty resource or no policy
  // too). Fails only with UNAVAILABLE when the audit record of a grant issued at once, or of the
  // approval a grant needs, cannot be written: nothing is issued, stored or requested then.
  absl::StatusOr<v1::GrantDecision> request(const GrantRequestInput& input);

  // Votes on a pending grant's approval (see ApprovalManager::vote for errors); the grant as it
  // is after the vote (ACTIVE once approved, DENIED once denied). UNAVAILABLE when the vote
  // decided the approval but the grant's activation record cannot be written: the grant stays
  // PENDING and tick() activates it once the record is written.
  absl::StatusOr<v1::Grant> approve(const std::string& grant_id, const v1::Identity& voter,
                                    const std::string& comment);
  absl::StatusOr<v1::Grant> deny(const std::string& grant_id, const v1::Identity& voter,
                                 const std::string& comment);

  // ACTIVE or PENDING -> REVOKED (a pending grant's approval is cancelled). NOT_FOUND for an
  // unknown id, FAILED_PRECONDITION when already expired/revoked/denied. UNAVAILABLE when the
  // grant was revoked but the record of it could not be written.
  absl::StatusOr<v1::Grant> revoke(const std::string& grant_id, const v1::Identity& by,
                                   const std::string& comment);

  // Binds an unbound ACTIVE grant to `workload`'s pod (first use). Binding to the pod it is
  // already bound to is a no-op; to another pod, or for a workload the grant's subject does not
  // cover, is PERMISSION_DENIED (a pod may not take another workload's grant by naming it).
  // NOT_FOUND for an unknown id; FAILED_PRECONDITION when not active or expired.
  absl::StatusOr<v1::Grant> bind(const std::string& grant_id, const v1::Identity& workload);

  // ACTIVE grants usable by `workload`: subject equal to (or a glob matching) its subject, and
  // bound to its pod uid. Unbound ones are bound to its pod as they are handed out (so a
  // grant reaches exactly one pod). Use this for the Welcome.
  std::vector<v1::Grant> claimGrantsFor(const v1::Identity& workload);

  // True when `grant_id` is ACTIVE, unexpired and bound to `workload`'s pod.
  bool isUsableBy(const std::string& grant_id, const v1::Identity& workload) const;

  absl::StatusOr<v1::Grant> get(const std::string& grant_id) const;
  // Filtered by exact subject / resource when non-empty; only PENDING and ACTIVE unless
  // `include_inactive`. Oldest first.
  std::vector<v1::Grant> list(const std::string& subject, const std::string& resource,
                              bool include_inactive) const;

  // Expires every ACTIVE grant whose expires_at passed (clock time), and settles PENDING grants
  // whose approval is decided (an activation whose record could not be written earlier).
  void tick();

  // `callback(grant)` whenever a grant becomes ACTIVE, REVOKED, EXPIRED or DENIED (and when a
  // pending one is created), after it is stored.
  Subscription subscribe(std::function<void(const v1::Grant&)> callback) {
    return subscribers_.add(std::move(callback));
  }

 private:
  void onApproval(const v1::Approval& approval);
  // Stores and notifies a change whose audit record is already written (or that has none).
  void commit(const v1::Grant& grant);
  // Stores, audits and notifies a change that stands even when its record cannot be written;
  // returns the audit append's status (the failure is logged).
  absl::Status publish(const v1::Grant& grant, v1::EventType type, const v1::Identity& who,
                       const std::string& detail, bool success);
  void run();

  StateStore& store_;
  Auditor& auditor_;
  ClockPtr clock_;
  PolicyRegistry& policies_;
  ApprovalManager& approvals_;
  mutable std::mutex mu_;
  std::map<std::string, v1::Grant> grants_;
  Subscribers<v1::Grant> subscribers_;
  Subscription approval_sub_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tollgate::controlplane::core
