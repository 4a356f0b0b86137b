// GrantManager: access-rule evaluation, grant life cycle, approval hand-off and expiry.
#include "controlplane/core/grant_manager.h"

#include <algorithm>

#include "common/log.h"
#include "controlplane/core/ids.h"
#include "controlplane/core/time_util.h"
#include "policy/subject.h"

namespace tollgate::controlplane::core {
namespace {

constexpr auto kReuseMargin = std::chrono::seconds(5);

bool hasRole(const v1::Identity& id, const char* role) {
  return std::find(id.roles().begin(), id.roles().end(), role) != id.roles().end();
}

int roleRank(v1::Role r) { return static_cast<int>(r); }

v1::Role toProtoRole(policy::Role r) {
  switch (r) {
    case policy::Role::kRead:
      return v1::ROLE_READ;
    case policy::Role::kWrite:
      return v1::ROLE_WRITE;
    case policy::Role::kAdmin:
      return v1::ROLE_ADMIN;
  }
  return v1::ROLE_UNSPECIFIED;
}

std::string roleText(v1::Role r) {
  switch (r) {
    case v1::ROLE_READ:
      return "read";
    case v1::ROLE_WRITE:
      return "write";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return "unspecified";
  }
}

// Whether grant subject pattern `pattern` covers identity `id`.
bool grantSubjectCovers(const std::string& pattern, const v1::Identity& id) {
  if (pattern.empty()) return false;
  if (pattern == id.principal_id()) return true;
  return policy::globMatch(pattern, id.subject());
}

v1::GrantDecision denied(const std::string& message) {
  v1::GrantDecision d;
  d.set_outcome(v1::GrantDecision::DENIED);
  d.set_message(message);
  return d;
}

}  // namespace

GrantManager::GrantManager(StateStore& store, Auditor& auditor, ClockPtr clock,
                           PolicyRegistry& policies, ApprovalManager& approvals)
    : store_(store),
      auditor_(auditor),
      clock_(std::move(clock)),
      policies_(policies),
      approvals_(approvals) {}

GrantManager::~GrantManager() { stop(); }

absl::Status GrantManager::start() {
  auto stored = store_.loadGrants();
  if (!stored.ok()) return stored.status();
  {
    std::lock_guard lock(mu_);
    for (auto& g : *stored) grants_[g.id()] = std::move(g);
    stopping_ = false;
  }
  approval_sub_ = approvals_.subscribe([this](const v1::Approval& a) { onApproval(a); });
  // Approvals decided while we were down (e.g. timed out at restart) still settle the grant.
  for (const auto& a : approvals_.list(true, "")) onApproval(a);
  thread_ = std::thread([this] { run(); });
  return absl::OkStatus();
}

void GrantManager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  approval_sub_.reset();
}

void GrantManager::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

absl::StatusOr<v1::GrantDecision> GrantManager::request(const GrantRequestInput& in) {
  const v1::Identity& who = in.requester;
  auto deny = [&](const std::string& message) {
    auditor_
        .record(v1::EVENT_GRANT_DENIED, who, in.resource,
                "grant " + roleText(in.role) + " on " + in.resource + " denied: " + message, false)
        .IgnoreError();
    return denied(message);
  };
  PolicySnapshotPtr snap = policies_.current();
  if (!snap) return deny("no policy has been applied yet");
  if (in.resource.empty()) return deny("no resource named in the request");
  if (!v1::Role_IsValid(in.role)) return deny("unknown role " + std::to_string(in.role));
  const policy::CompiledPolicy& policy = *snap->compiled;
  if (policy.resource(in.resource) == nullptr) {
    return deny("the policy has no resource named '" + in.resource + "'");
  }
  const bool workload = who.kind() == v1::Identity::KIND_WORKLOAD;
  std::string subject = in.subject.empty() ? who.subject() : in.subject;
  if (workload && subject != who.subject()) {
    return deny("a workload can only request grants for itself");
  }
  const bool for_other = !workload && subject != who.subject();
  std::vector<std::string> groups;
  if (!for_other) groups.assign(who.groups().begin(), who.groups().end());
  policy::Identity pid = policy::Identity::fromSubject(subject, std::move(groups));
  const policy::AccessRule* rule = policy.matchAccess(pid, in.resource);
  if (rule == nullptr) {
    return deny("no access rule matches subject '" + subject + "' on resource '" + in.resource +
                "'");
  }
  v1::Role rule_role = toProtoRole(rule->role);
  v1::Role role = in.role == v1::ROLE_UNSPECIFIED ? rule_role : in.role;
  if (roleRank(role) > roleRank(rule_role)) {
    return deny("role " + roleText(role) + " exceeds role " + roleText(rule_role) +
                " allowed by access rule '" + rule->name + "'");
  }
  if (in.duration.count() < 0) return deny("a negative duration was requested");
  std::chrono::seconds max(rule->max_duration_seconds);
  std::chrono::seconds duration = in.duration.count() == 0 ? max : std::min(in.duration, max);
  const bool needs_approval = rule->approval == policy::Approval::kRequired;
  if (for_other && needs_approval && !hasRole(who, "approver") && !hasRole(who, "admin")) {
    return deny("requesting a grant for '" + subject + "' needs the approver or admin role (" +
                "access rule '" + rule->name + "' requires approval)");
  }
  const std::string pod_uid = workload ? who.pod_uid() : "";
  auto now = clock_->now();

  v1::Grant grant;
  v1::GrantDecision decision;
  std::string bind_detail;
  {
    std::lock_guard lock(mu_);
    if (workload) {
      // An active or pending grant that already covers the request is answered again.
      for (auto& [id, g] : grants_) {
        if (g.resource() != in.resource || !grantSubjectCovers(g.subject(), who) ||
            roleRank(g.role()) < roleRank(role) ||
            (!g.pod_uid().empty() && g.pod_uid() != pod_uid)) {
          continue;
        }
        if (g.state() == v1::GRANT_ACTIVE && fromTimestamp(g.expires_at()) - now > kReuseMargin) {
          if (g.pod_uid().empty()) {
            g.set_pod_uid(pod_uid);
            bind_detail = "grant " + g.id() + " bound to pod " + pod_uid;
          }
          decision.set_outcome(v1::GrantDecision::GRANTED);
          *decision.mutable_grant() = g;
          grant = g;
          break;
        }
        if (g.state() == v1::GRANT_PENDING && g.pod_uid() == pod_uid) {
          decision.set_outcome(v1::GrantDecision::PENDING_APPROVAL);
          *decision.mutable_grant() = g;
          return decision;
        }
      }
    }
  }
  if (decision.outcome() == v1::GrantDecision::GRANTED) {
    if (!bind_detail.empty()) commit(grant);
    return decision;
  }

  grant.set_id(newId("gr-"));
  grant.set_subject(subject);
  grant.set_resource(in.resource);
  grant.set_role(role);
  *grant.mutable_not_before() = toTimestamp(now);
  *grant.mutable_expires_at() = toTimestamp(now + duration);
  grant.set_reason(in.reason);
  grant.set_pod_uid(pod_uid);
  grant.set_rule(rule->name);
  *grant.mutable_requested_by() = who;
  if (!needs_approval) {
    grant.set_state(v1::GRANT_ACTIVE);
    // Recorded before it exists: a grant that cannot be audited is not issued.
    if (auto st = auditor_.recordRequired(v1::EVENT_GRANT_ISSUED, who, grant.resource(),
                                          "grant " + grant.id() + ": " + roleText(role) + " on " +
                                              in.resource + " for " + subject + " for " +
                                              std::to_string(duration.count()) + "s (rule " +
                                              rule->name + ")",
                                          true, grant.id(), "", grant.rule());
        !st.ok()) {
      return absl::Status(st.code(), std::string(st.message()) + "; the grant was not issued");
    }
    {
      std::lock_guard lock(mu_);
      grants_[grant.id()] = grant;
    }
    commit(grant);
    decision.set_outcome(v1::GrantDecision::GRANTED);
    *decision.mutable_grant() = grant;
    return decision;
  }
  grant.set_state(v1::GRANT_PENDING);
  {
    std::lock_guard lock(mu_);
    grants_[grant.id()] = grant;
  }
  GrantApprovalInput ai;
  ai.requester = who;
  ai.resource = in.resource;
  ai.grant_id = grant.id();
  ai.role = roleText(role);
  ai.rule = rule->name;
  ai.approvers = rule->approvers;
  auto approval = approvals_.createGrantApproval(ai);
  if (!approval.ok()) {
    // Never stored or announced: the request leaves nothing behind (the approval's record could
    // not be written, so no approval was opened either).
    {
      std::lock_guard lock(mu_);
      grants_.erase(grant.id());
    }
    return absl::Status(approval.status().code(),
                        std::string(approval.status().message()) + "; the grant was not requested");
  }
  {
    std::lock_guard lock(mu_);
    grants_[grant.id()].set_approval_id(approval->id());
    grant = grants_[grant.id()];
  }
  commit(grant);
  decision.set_outcome(v1::GrantDecision::PENDING_APPROVAL);
  *decision.mutable_grant() = grant;
  return decision;
}

void GrantManager::onApproval(const v1::Approval& a) {
  if (a.kind() != v1::Approval::KIND_GRANT || a.state() == v1::APPROVAL_PENDING) return;
  v1::Grant grant;
  {
    std::lock_guard lock(mu_);
    auto it = grants_.find(a.grant_id());
    if (it == grants_.end() || it->second.state() != v1::GRANT_PENDING) return;
    v1::Grant& g = it->second;
    if (a.state() == v1::APPROVAL_APPROVED) {
      v1::Grant next = g;
      // The time box starts when the grant becomes usable.
      auto length = fromTimestamp(g.expires_at()) - fromTimestamp(g.not_before());
      auto now = clock_->now();
      *next.mutable_not_before() = toTimestamp(now);
      *next.mutable_expires_at() = toTimestamp(now + length);
      next.clear_approvers();
      for (const auto& v : a.votes()) {
        if (v.approve()) next.add_approvers(v.principal_id());
      }
      next.set_state(v1::GRANT_ACTIVE);
      // Written under the lock, before the grant becomes usable. When it cannot be, the grant
      // stays PENDING and tick() tries again.
      if (auto st =
              auditor_.recordRequired(v1::EVENT_GRANT_ISSUED, next.requested_by(), next.resource(),
                                      "grant " + next.id() + " approved by " +
                                          std::to_string(next.approvers_size()) + " approver(s)",
                                      true, next.id(), next.approval_id(), next.rule());
          !st.ok()) {
        log::error("approved grant not activated",
                   {{"grant", next.id()}, {"error", std::string(st.message())}});
        return;
      }
      g = next;
    } else {
      g.set_state(v1::GRANT_DENIED);
    }
    grant = g;
  }
  if (grant.state() == v1::GRANT_ACTIVE) {
    commit(grant);
  } else {
    publish(grant, v1::EVENT_GRANT_DENIED, grant.requested_by(),
            "grant " + grant.id() + " not approved (approval " +
                (a.state() == v1::APPROVAL_TIMED_OUT   ? std::string("timed out")
                 : a.state() == v1::APPROVAL_CANCELLED ? std::string("cancelled")
                                                       : std::string("denied")) +
                ")",
            false)
        .IgnoreError();  // logged by the auditor
  }
}

absl::StatusOr<v1::Grant> GrantManager::approve(const std::string& grant_id,
                                                const v1::Identity& voter,
                                                const std::string& comment) {
  auto g = get(grant_id);
  if (!g.ok()) return g.status();
  if (g->state() != v1::GRANT_PENDING || g->approval_id().empty()) {
    return absl::FailedPreconditionError("grant " + grant_id + " is not waiting for approval");
  }
  auto a = approvals_.vote(g->approval_id(), voter, true, comment);
  if (!a.ok()) return a.status();
  auto after = get(grant_id);
  if (after.ok() && after->state() == v1::GRANT_PENDING && a->state() == v1::APPROVAL_APPROVED) {
    return absl::UnavailableError("grant " + grant_id +
                                  " is approved but not active: the audit trail cannot be "
                                  "written (it is activated once its record is)");
  }
  return after;
}

absl::StatusOr<v1::Grant> GrantManager::deny(const std::string& grant_id, const v1::Identity& voter,
                                             const std::string& comment) {
  auto g = get(grant_id);
  if (!g.ok()) return g.status();
  if (g->state() != v1::GRANT_PENDING || g->approval_id().empty()) {
    return absl::FailedPreconditionError("grant " + grant_id + " is not waiting for approval");
  }
  auto a = approvals_.vote(g->approval_id(), voter, false, comment);
  if (!a.ok()) return a.status();
  return get(grant_id);
}

absl::StatusOr<v1::Grant> GrantManager::revoke(const std::string& grant_id, const v1::Identity& by,
                                               const std::string& comment) {
  v1::Grant grant;
  bool was_pending = false;
  {
    std::lock_guard lock(mu_);
    auto it = grants_.find(grant_id);
    if (it == grants_.end()) return absl::NotFoundError("no grant " + grant_id);
    v1::Grant& g = it->second;
    if (g.state() != v1::GRANT_ACTIVE && g.state() != v1::GRANT_PENDING) {
      return absl::FailedPreconditionError("grant " + grant_id + " is no longer active");
    }
    was_pending = g.state() == v1::GRANT_PENDING;
    g.set_state(v1::GRANT_REVOKED);
    grant = g;
  }
  std::string detail = "grant " + grant_id + " revoked by " + by.principal_id();
  if (!comment.empty()) detail += ": " + comment;
  absl::Status recorded = publish(grant, v1::EVENT_GRANT_REVOKED, by, detail, true);
  if (was_pending && !grant.approval_id().empty()) {
    approvals_.cancel(grant.approval_id(), "grant revoked").IgnoreError();
  }
  // Taking access away is never held up by the audit store, but it does not pass silently.
  if (!recorded.ok()) {
    return absl::UnavailableError("grant " + grant_id +
                                  " is revoked, but the audit trail cannot be written (" +
                                  std::string(recorded.message()) + ")");
  }
  return grant;
}

absl::StatusOr<v1::Grant> GrantManager::bind(const std::string& grant_id,
                                             const v1::Identity& workload) {
  const std::string& pod_uid = workload.pod_uid();
  if (pod_uid.empty()) return absl::InvalidArgumentError("the workload names no pod");
  const auto now = clock_->now();
  v1::Grant grant;
  {
    std::lock_guard lock(mu_);
    auto it = grants_.find(grant_id);
    if (it == grants_.end()) return absl::NotFoundError("no grant " + grant_id);
    v1::Grant& g = it->second;
    if (!grantSubjectCovers(g.subject(), workload)) {
      return absl::PermissionDeniedError("grant " + grant_id + " is not for this workload");
    }
    if (g.pod_uid() == pod_uid) return g;
    if (!g.pod_uid().empty()) {
      return absl::PermissionDeniedError("grant " + grant_id + " is bound to another pod");
    }
    if (g.state() != v1::GRANT_ACTIVE || fromTimestamp(g.expires_at()) <= now) {
      return absl::FailedPreconditionError("grant " + grant_id + " is not active");
    }
    g.set_pod_uid(pod_uid);
    grant = g;
  }
  commit(grant);
  return grant;
}

std::vector<v1::Grant> GrantManager::claimGrantsFor(const v1::Identity& workload) {
  std::vector<v1::Grant> out;
  std::vector<v1::Grant> bound;
  auto now = clock_->now();
  {
    std::lock_guard lock(mu_);
    for (auto& [id, g] : grants_) {
      if (g.state() != v1::GRANT_ACTIVE || fromTimestamp(g.expires_at()) <= now ||
          !grantSubjectCovers(g.subject(), workload)) {
        continue;
      }
      if (g.pod_uid().empty()) {
        if (workload.pod_uid().empty()) continue;
        g.set_pod_uid(workload.pod_uid());
        bound.push_back(g);
      } else if (g.pod_uid() != workload.pod_uid()) {
        continue;
      }
      out.push_back(g);
    }
  }
  for (const auto& g : bound) commit(g);
  return out;
}

bool GrantManager::isUsableBy(const std::string& grant_id, const v1::Identity& workload) const {
  std::lock_guard lock(mu_);
  auto it = grants_.find(grant_id);
  if (it == grants_.end()) return false;
  const v1::Grant& g = it->second;
  return g.state() == v1::GRANT_ACTIVE && fromTimestamp(g.expires_at()) > clock_->now() &&
         !g.pod_uid().empty() && g.pod_uid() == workload.pod_uid() &&
         grantSubjectCovers(g.subject(), workload);
}

absl::StatusOr<v1::Grant> GrantManager::get(const std::string& grant_id) const {
  std::lock_guard lock(mu_);
  auto it = grants_.find(grant_id);
  if (it == grants_.end()) return absl::NotFoundError("no grant " + grant_id);
  return it->second;
}

std::vector<v1::Grant> GrantManager::list(const std::string& subject, const std::string& resource,
                                          bool include_inactive) const {
  std::vector<v1::Grant> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, g] : grants_) {
      bool live = g.state() == v1::GRANT_ACTIVE || g.state() == v1::GRANT_PENDING;
      if (!include_inactive && !live) continue;
      if (!subject.empty() && g.subject() != subject) continue;
      if (!resource.empty() && g.resource() != resource) continue;
      out.push_back(g);
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::Grant& x, const v1::Grant& y) {
    auto tx = fromTimestamp(x.not_before());
    auto ty = fromTimestamp(y.not_before());
    return tx != ty ? tx < ty : x.id() < y.id();
  });
  return out;
}

void GrantManager::tick() {
  auto now = clock_->now();
  std::vector<v1::Grant> expired;
  std::vector<std::string> pending_approvals;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, g] : grants_) {
      if (g.state() == v1::GRANT_ACTIVE && fromTimestamp(g.expires_at()) <= now) {
        g.set_state(v1::GRANT_EXPIRED);
        expired.push_back(g);
      } else if (g.state() == v1::GRANT_PENDING && !g.approval_id().empty()) {
        pending_approvals.push_back(g.approval_id());
      }
    }
  }
  for (const auto& g : expired) {
    publish(g, v1::EVENT_GRANT_EXPIRED, g.requested_by(), "grant " + g.id() + " expired", true)
        .IgnoreError();  // logged by the auditor
  }
  // A decided approval whose grant is still pending: its activation record could not be
  // written when the approval was decided.
  for (const auto& id : pending_approvals) {
    auto a = approvals_.get(id);
    if (a.ok() && a->state() != v1::APPROVAL_PENDING) onApproval(*a);
  }
}

void GrantManager::commit(const v1::Grant& grant) {
  if (auto st = store_.putGrant(grant); !st.ok()) {
    log::error("storing grant failed",
               {{"grant", grant.id()}, {"error", std::string(st.message())}});
  }
  subscribers_.notify(grant);
}

absl::Status GrantManager::publish(const v1::Grant& grant, v1::EventType type,
                                   const v1::Identity& who, const std::string& detail,
                                   bool success) {
  if (auto st = store_.putGrant(grant); !st.ok()) {
    log::error("storing grant failed",
               {{"grant", grant.id()}, {"error", std::string(st.message())}});
  }
  absl::Status recorded = auditor_.record(type, who, grant.resource(), detail, success, grant.id(),
                                          grant.approval_id(), grant.rule());
  subscribers_.notify(grant);
  return recorded;
}

}  // namespace tollgate::controlplane::core
