// ApprovalManager: creation, voting rules, timeouts, persistence and notification of approvals.
#include "controlplane/core/approval_manager.h"

#include <algorithm>

#include "common/log.h"
#include "controlplane/core/ids.h"
#include "controlplane/core/time_util.h"

namespace tollgate::controlplane::core {
namespace {

bool hasRole(const v1::Identity& id, const std::string& role) {
  return std::find(id.roles().begin(), id.roles().end(), role) != id.roles().end();
}

bool inGroup(const v1::Identity& id, const std::string& group) {
  return std::find(id.groups().begin(), id.groups().end(), group) != id.groups().end();
}

bool samePrincipal(const v1::Identity& a, const v1::Identity& b) {
  if (!a.principal_id().empty() && a.principal_id() == b.principal_id()) return true;
  return !a.subject().empty() && a.subject() == b.subject() && a.issuer() == b.issuer();
}

std::string stateName(v1::ApprovalState s) {
  switch (s) {
    case v1::APPROVAL_PENDING:
      return "pending";
    case v1::APPROVAL_APPROVED:
      return "approved";
    case v1::APPROVAL_DENIED:
      return "denied";
    case v1::APPROVAL_TIMED_OUT:
      return "timed out";
    case v1::APPROVAL_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

// The audit record of a change to `a` made by `who`.
v1::AuditEvent auditEvent(const v1::Approval& a, v1::EventType type, const v1::Identity& who,
                          const std::string& detail) {
  v1::AuditEvent e;
  e.set_type(type);
  *e.mutable_identity() = who;
  e.mutable_location()->set_resource(a.resource());
  e.mutable_location()->set_session_id(a.session_id());
  if (a.kind() == v1::Approval::KIND_STATEMENT) {
    e.mutable_action()->set_statement(a.statement());
    e.mutable_action()->set_statement_class(a.statement_class());
  }
  e.mutable_action()->set_detail(detail);
  e.mutable_result()->set_success(a.state() == v1::APPROVAL_PENDING ||
                                  a.state() == v1::APPROVAL_APPROVED);
  e.mutable_reason()->set_approval_id(a.id());
  e.mutable_reason()->set_grant_id(a.grant_id());
  if (!a.rule().empty()) e.mutable_reason()->add_rule_ids(a.rule());
  e.mutable_reason()->set_decision(a.state() == v1::APPROVAL_APPROVED  ? v1::DECISION_ALLOW
                                   : a.state() == v1::APPROVAL_PENDING ? v1::DECISION_REVIEW
                                                                       : v1::DECISION_BLOCK);
  return e;
}

// Checks `voter` against the rules in the header and adds the vote to pending `a`, deciding it
// when the vote settles it.
absl::Status addVote(v1::Approval& a, const v1::Identity& voter, bool approve,
                     const std::string& comment, std::chrono::system_clock::time_point now) {
  if (!hasRole(voter, "approver") && !hasRole(voter, "admin")) {
    return absl::PermissionDeniedError("voting needs the approver or admin role");
  }
  if (!a.approver_group().empty() && voter.kind() != v1::Identity::KIND_BOOTSTRAP &&
      !inGroup(voter, a.approver_group())) {
    return absl::PermissionDeniedError("approval " + a.id() + " needs a member of group " +
                                       a.approver_group());
  }
  if (samePrincipal(voter, a.requester())) {
    return absl::PermissionDeniedError("a principal cannot vote on its own request");
  }
  for (const auto& v : a.votes()) {
    if (v.principal_id() == voter.principal_id()) {
      return absl::AlreadyExistsError(voter.principal_id() + " already voted on " + a.id());
    }
  }
  auto* v = a.add_votes();
  v->set_principal_id(voter.principal_id());
  v->set_display_name(voter.display_name());
  v->set_approve(approve);
  v->set_comment(comment);
  *v->mutable_at() = toTimestamp(now);
  if (!approve) {
    a.set_state(v1::APPROVAL_DENIED);
  } else {
    uint32_t yes = 0;
    for (const auto& x : a.votes()) yes += x.approve() ? 1 : 0;
    if (yes >= a.required_approvals()) a.set_state(v1::APPROVAL_APPROVED);
  }
  return absl::OkStatus();
}

}  // namespace

ApprovalManager::ApprovalManager(StateStore& store, Auditor& auditor, ClockPtr clock,
                                 std::unique_ptr<WebhookNotifier> webhook)
    : store_(store), auditor_(auditor), clock_(std::move(clock)), webhook_(std::move(webhook)) {}

ApprovalManager::~ApprovalManager() { stop(); }

absl::Status ApprovalManager::start() {
  auto stored = store_.loadApprovals();
  if (!stored.ok()) return stored.status();
  {
    std::lock_guard lock(mu_);
    for (auto& a : *stored) approvals_[a.id()] = std::move(a);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
  return absl::OkStatus();
}

void ApprovalManager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (webhook_) webhook_->stop();
}

void ApprovalManager::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

absl::StatusOr<v1::Approval> ApprovalManager::create(v1::Approval a) {
  a.set_id(newId("ap-"));
  a.set_state(v1::APPROVAL_PENDING);
  auto now = clock_->now();
  *a.mutable_created_at() = toTimestamp(now);
  if (a.required_approvals() == 0) a.set_required_approvals(1);
  std::string detail = (a.kind() == v1::Approval::KIND_GRANT ? "grant " + a.grant_id()
                                                             : "statement: " + a.statement()) +
                       " needs " + std::to_string(a.required_approvals()) + " approval(s)" +
                       (a.approver_group().empty() ? "" : " from group " + a.approver_group());
  // Recorded before it exists: an approval nobody can trace is not opened.
  if (auto st = auditor_.recordRequired(
          auditEvent(a, v1::EVENT_APPROVAL_REQUESTED, a.requester(), detail));
      !st.ok()) {
    return absl::Status(st.code(), std::string(st.message()) + "; the approval was not created");
  }
  {
    std::lock_guard lock(mu_);
    approvals_[a.id()] = a;
  }
  commit(a);
  if (webhook_) webhook_->announce(a);
  return a;
}

absl::StatusOr<v1::Approval> ApprovalManager::createStatementApproval(
    const StatementApprovalInput& in) {
  if (in.resource.empty() || in.statement.empty()) {
    return absl::InvalidArgumentError("a statement approval needs a resource and a statement");
  }
  v1::Approval a;
  a.set_kind(v1::Approval::KIND_STATEMENT);
  *a.mutable_requester() = in.requester;
  a.set_resource(in.resource);
  a.set_statement(in.statement);
  a.set_statement_class(in.statement_class);
  a.set_rule(in.rule);
  a.set_session_id(in.session_id);
  a.set_grant_id(in.grant_id);
  a.set_approver_group(in.approvers.group);
  a.set_required_approvals(static_cast<uint32_t>(std::max(1, in.approvers.count)));
  *a.mutable_deadline() = toTimestamp(
      clock_->now() + std::chrono::seconds(std::max<int64_t>(1, in.approvers.timeout_seconds)));
  return create(std::move(a));
}

absl::StatusOr<v1::Approval> ApprovalManager::createGrantApproval(const GrantApprovalInput& in) {
  v1::Approval a;
  a.set_kind(v1::Approval::KIND_GRANT);
  *a.mutable_requester() = in.requester;
  a.set_resource(in.resource);
  a.set_statement("grant " + in.role + " on " + in.resource);
  a.set_rule(in.rule);
  a.set_grant_id(in.grant_id);
  a.set_approver_group(in.approvers.group);
  a.set_required_approvals(static_cast<uint32_t>(std::max(1, in.approvers.count)));
  *a.mutable_deadline() = toTimestamp(
      clock_->now() + std::chrono::seconds(std::max<int64_t>(1, in.approvers.timeout_seconds)));
  return create(std::move(a));
}

absl::StatusOr<v1::Approval> ApprovalManager::vote(const std::string& approval_id,
                                                   const v1::Identity& voter, bool approve,
                                                   const std::string& comment) {
  v1::Approval a;
  bool expired = false;
  {
    std::lock_guard lock(mu_);
    auto it = approvals_.find(approval_id);
    if (it == approvals_.end()) return absl::NotFoundError("no approval " + approval_id);
    v1::Approval& cur = it->second;
    if (cur.state() != v1::APPROVAL_PENDING) {
      return absl::FailedPreconditionError("approval " + approval_id + " is already " +
                                           stateName(cur.state()));
    }
    const auto now = clock_->now();
    // The expiry pass runs only every 200 ms: a vote after the deadline times the approval
    // out, as that pass would have, instead of being counted.
    expired = fromTimestamp(cur.deadline()) <= now;
    if (expired) {
      cur.set_state(v1::APPROVAL_TIMED_OUT);
      a = cur;
    } else {
      v1::Approval next = cur;
      if (auto st = addVote(next, voter, approve, comment, now); !st.ok()) return st;
      std::string detail = std::string(approve ? "approved" : "denied") + " by " +
                           voter.principal_id() + " (now " + stateName(next.state()) + ")";
      if (!comment.empty()) detail += ": " + comment;
      // Written under the lock, before the vote counts: a vote that cannot be recorded is not
      // counted, and records follow the order in which votes count.
      if (auto st =
              auditor_.recordRequired(auditEvent(next, v1::EVENT_APPROVAL_DECIDED, voter, detail));
          !st.ok()) {
        return absl::Status(st.code(), std::string(st.message()) + "; the vote was not counted");
      }
      cur = next;
      a = cur;
    }
  }
  if (expired) {
    publishTimedOut(a);
    return absl::FailedPreconditionError(
        "approval " + approval_id + " expired at " + rfc3339(a.deadline()) +
        " with no decision (treated as denied); the vote was not counted");
  }
  commit(a);
  return a;
}

absl::StatusOr<v1::Approval> ApprovalManager::cancel(const std::string& approval_id,
                                                     const std::string& why) {
  v1::Approval a;
  {
    std::lock_guard lock(mu_);
    auto it = approvals_.find(approval_id);
    if (it == approvals_.end()) return absl::NotFoundError("no approval " + approval_id);
    if (it->second.state() != v1::APPROVAL_PENDING) return it->second;
    it->second.set_state(v1::APPROVAL_CANCELLED);
    a = it->second;
  }
  publish(a, v1::EVENT_APPROVAL_DECIDED, a.requester(), "cancelled: " + why);
  return a;
}

absl::StatusOr<v1::Approval> ApprovalManager::get(const std::string& approval_id) const {
  std::lock_guard lock(mu_);
  auto it = approvals_.find(approval_id);
  if (it == approvals_.end()) return absl::NotFoundError("no approval " + approval_id);
  return it->second;
}

std::vector<v1::Approval> ApprovalManager::list(bool include_decided,
                                                const std::string& resource) const {
  std::vector<v1::Approval> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, a] : approvals_) {
      if (!include_decided && a.state() != v1::APPROVAL_PENDING) continue;
      if (!resource.empty() && a.resource() != resource) continue;
      out.push_back(a);
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::Approval& x, const v1::Approval& y) {
    auto tx = fromTimestamp(x.created_at());
    auto ty = fromTimestamp(y.created_at());
    return tx != ty ? tx < ty : x.id() < y.id();
  });
  return out;
}

void ApprovalManager::tick() {
  auto now = clock_->now();
  std::vector<v1::Approval> timed_out;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, a] : approvals_) {
      if (a.state() == v1::APPROVAL_PENDING && fromTimestamp(a.deadline()) <= now) {
        a.set_state(v1::APPROVAL_TIMED_OUT);
        timed_out.push_back(a);
      }
    }
  }
  for (const auto& a : timed_out) publishTimedOut(a);
}

void ApprovalManager::publishTimedOut(const v1::Approval& a) {
  publish(a, v1::EVENT_APPROVAL_TIMED_OUT, a.requester(),
          "no decision before the deadline: treated as denied");
}

void ApprovalManager::commit(const v1::Approval& a) {
  if (auto st = store_.putApproval(a); !st.ok()) {
    log::error("storing approval failed",
               {{"approval", a.id()}, {"error", std::string(st.message())}});
  }
  subscribers_.notify(a);
}

void ApprovalManager::publish(const v1::Approval& a, v1::EventType type, const v1::Identity& who,
                              const std::string& detail) {
  if (auto st = store_.putApproval(a); !st.ok()) {
    log::error("storing approval failed",
               {{"approval", a.id()}, {"error", std::string(st.message())}});
  }
  auditor_.record(auditEvent(a, type, who, detail)).IgnoreError();  // logged by the auditor
  subscribers_.notify(a);
}

}  // namespace tollgate::controlplane::core
