// Who decides that a workload may open a session, and who approves a held statement: the local
// policy in standalone mode, the control plane (grants, approvals) otherwise.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policy/compiled_policy.h"
#include "policy/model.h"
#include "policy/subject.h"

namespace tollgate::sidecar {

// The outcome of asking for access to one resource.
struct AccessDecision {
  bool allowed = false;
  // When refused: a message for the client (FATAL 28000), naming the rule or the reason.
  std::string refuse_reason;
  policy::Role role = policy::Role::kRead;
  std::string access_rule;  // the access rule behind the grant
  std::string grant_id;     // empty in standalone mode
  // Refused because audit events cannot be spooled (the control plane away, the spool full).
  bool audit_backlog = false;
  // When the grant ends (sessions on it are ended then); max() when it never does.
  std::chrono::system_clock::time_point expires_at = std::chrono::system_clock::time_point::max();
};
using AccessCallback = std::function<void(AccessDecision)>;

// Outcome of a statement held for human approval.
struct StatementApprovalResult {
  bool approved = false;
  std::string approval_id;
  // Why it was not approved ("denied by alice: not now", "no decision within 5m", "control
  // plane unreachable"), or who approved it.
  std::string message;
};
using ApprovalCallback = std::function<void(StatementApprovalResult)>;

struct StatementApprovalRequest {
  std::string session_id;
  std::string resource;
  std::string statement;  // normalised: no literals
  std::string statement_class;
  std::string rule;
  std::string grant_id;
};

// What the control plane's session list shows of one data-path session.
struct SessionSummary {
  std::string session_id;
  std::string resource;
  std::string protocol;  // "postgres", ...
  std::string grant_id;
  uint64_t statements = 0;  // run so far
  uint64_t blocked = 0;     // refused so far
  uint64_t bytes_in = 0;    // from the client
  uint64_t bytes_out = 0;   // to the client
};

// Thread-safety: every method may be called from any thread. Callbacks run on an arbitrary
// thread (the caller posts them to its own loop), exactly once.
class AccessBroker {
 public:
  virtual ~AccessBroker() = default;
  // The identity whose rules apply to new sessions (standalone: the configured subject).
  virtual policy::Identity identity() const = 0;
  // Access for a new session on `resource` under `policy`.
  virtual void acquire(const policy::CompiledPolicyPtr& policy, const std::string& resource,
                       AccessCallback done) = 0;
  // Hold-and-ask for a statement matched by a `review` guardrail. nullptr-equivalent: a broker
  // that cannot reach approvers answers at once with approved = false.
  virtual void requestApproval(const StatementApprovalRequest& request, ApprovalCallback done) = 0;
  // Session lifecycle, for the control plane's session list.
  virtual void sessionStarted(const SessionSummary& session) = 0;
  virtual void sessionEnded(const SessionSummary& session) = 0;
};
using AccessBrokerPtr = std::shared_ptr<AccessBroker>;

// What `policy`'s access rules give `identity` on `resource`, with nobody to approve a grant:
// refused when no rule matches or the matching rule requires approval.
AccessDecision localAccess(const policy::CompiledPolicy& policy, const policy::Identity& identity,
                           const std::string& resource);

// Standalone mode: the local policy's access rules decide at once; rules that need an approved
// grant are refused (nobody can approve), and so is every statement held for review.
class LocalAccessBroker : public AccessBroker {
 public:
  LocalAccessBroker(std::string subject, std::vector<std::string> groups);
  policy::Identity identity() const override { return identity_; }
  void acquire(const policy::CompiledPolicyPtr& policy, const std::string& resource,
               AccessCallback done) override;
  void requestApproval(const StatementApprovalRequest& request, ApprovalCallback done) override;
  void sessionStarted(const SessionSummary&) override {}
  void sessionEnded(const SessionSummary&) override {}

 private:
  policy::Identity identity_;
};

}  // namespace tollgate::sidecar
