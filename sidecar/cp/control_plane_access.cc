// Control-plane client, data-path side: grants for new sessions, credentials, statement
// approvals, session reports, local grant expiry.
#include "common/log.h"
#include "sidecar/cp/control_plane_client.h"

namespace tollgate::sidecar::cp {
namespace {

policy::Role toPolicyRole(v1::Role role) {
  switch (role) {
    case v1::ROLE_WRITE:
      return policy::Role::kWrite;
    case v1::ROLE_ADMIN:
      return policy::Role::kAdmin;
    default:
      return policy::Role::kRead;
  }
}

std::chrono::system_clock::time_point toTime(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return std::chrono::system_clock::time_point::max();
  return std::chrono::system_clock::time_point(std::chrono::seconds(ts.seconds()) +
                                               std::chrono::nanoseconds(ts.nanos()));
}

}  // namespace

policy::Identity ControlPlaneClient::identity() const {
  std::lock_guard lock(mu_);
  return policy_identity_;
}

absl::StatusOr<Credential> ControlPlaneClient::get(const policy::Resource& resource) {
  std::lock_guard lock(mu_);
  auto it = credentials_.find(resource.name);
  if (it == credentials_.end()) {
    return absl::NotFoundError("the control plane sent no credential for resource " +
                               resource.name);
  }
  return it->second;
}

AccessDecision ControlPlaneClient::decisionFor(const v1::Grant& grant) const {
  AccessDecision d;
  d.allowed = true;
  d.role = toPolicyRole(grant.role());
  d.access_rule = grant.rule();
  d.grant_id = grant.id();
  d.expires_at = toTime(grant.expires_at());
  return d;
}

std::optional<v1::Grant> ControlPlaneClient::usableGrantLocked(const std::string& resource) const {
  auto now = std::chrono::system_clock::now();
  const v1::Grant* best = nullptr;
  for (const auto& [id, g] : grants_) {
    if (g.resource() != resource || g.state() != v1::GRANT_ACTIVE) continue;
    if (!g.pod_uid().empty() && !options_.pod_uid.empty() && g.pod_uid() != options_.pod_uid) {
      continue;  // bound to another pod
    }
    if (toTime(g.expires_at()) <= now + std::chrono::seconds(1)) continue;
    if (best == nullptr || toTime(g.expires_at()) > toTime(best->expires_at())) best = &g;
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

void ControlPlaneClient::acquire(const policy::CompiledPolicyPtr&, const std::string& resource,
                                 AccessCallback done) {
  AccessDecision refused;
  {
    std::unique_lock lock(mu_);
    if (backlog_bytes_ > options_.max_backlog_bytes || saturated_) {
      refused.audit_backlog = true;
      refused.refuse_reason =
          "tollgate: audit events cannot reach the control plane and the local spool is full; "
          "new sessions are refused until it drains";
    } else if (auto grant = usableGrantLocked(resource)) {
      AccessDecision d = decisionFor(*grant);
      lock.unlock();
      done(std::move(d));
      return;
    } else if (!connected_) {
      refused.refuse_reason =
          "tollgate: the control plane is unreachable and no grant for "
          "resource " +
          resource + " is held, so the session is refused";
    } else {
      // Coalesce with a request already in flight for the same resource.
      for (auto& [id, w] : grant_requests_) {
        if (w.resource == resource) {
          w.waiters.push_back(std::move(done));
          return;
        }
      }
      for (auto& [id, w] : pending_grants_) {
        if (w.resource == resource) {
          w.waiters.push_back(std::move(done));
          return;
        }
      }
      uint64_t id = next_request_++;
      GrantWait& w = grant_requests_[id];
      w.resource = resource;
      w.waiters.push_back(std::move(done));
      w.deadline = std::chrono::steady_clock::now() + options_.grant_timeout;
      v1::SidecarMessage m;
      m.mutable_grant_request()->set_request_id(id);
      m.mutable_grant_request()->set_resource(resource);
      outgoing_.push_back(std::move(m));
      lock.unlock();
      cv_.notify_all();
      return;
    }
  }
  done(std::move(refused));
}

void ControlPlaneClient::onGrant(const v1::Grant& grant) {
  std::vector<AccessCallback> waiters;
  AccessDecision decision;
  bool ended = false;
  std::string reason;
  {
    std::lock_guard lock(mu_);
    auto pending = pending_grants_.find(grant.id());
    switch (grant.state()) {
      case v1::GRANT_ACTIVE:
        grants_[grant.id()] = grant;
        if (pending != pending_grants_.end()) {
          decision = decisionFor(grant);
          waiters = std::move(pending->second.waiters);
          pending_grants_.erase(pending);
        }
        break;
      case v1::GRANT_PENDING:
        break;
      default: {
        reason = grant.state() == v1::GRANT_REVOKED   ? "the grant was revoked"
                 : grant.state() == v1::GRANT_EXPIRED ? "the grant expired"
                                                      : "the grant was denied";
        ended = grants_.erase(grant.id()) > 0;
        if (pending != pending_grants_.end()) {
          decision.refuse_reason =
              "tollgate: access to resource " + grant.resource() + " refused: " + reason;
          waiters = std::move(pending->second.waiters);
          pending_grants_.erase(pending);
        } else if (!ended) {
          // Possibly denied before its GrantReply arrived: the reply then settles at once.
          if (unawaited_endings_.size() >= kMaxUnawaitedEndings) unawaited_endings_.clear();
          unawaited_endings_[grant.id()] = reason;
        }
      }
    }
  }
  for (auto& w : waiters) w(decision);
  if (ended && hooks_.on_grant_ended) {
    log::info("grant ended", {{"grant", grant.id()}, {"reason", reason}});
    hooks_.on_grant_ended(grant.id(), reason);
  }
}

void ControlPlaneClient::checkExpiry() {
  std::vector<std::string> expired;
  std::vector<AccessCallback> timed_out;
  {
    std::lock_guard lock(mu_);
    auto now = std::chrono::system_clock::now();
    for (auto it = grants_.begin(); it != grants_.end();) {
      if (toTime(it->second.expires_at()) <= now) {
        expired.push_back(it->first);
        it = grants_.erase(it);
      } else {
        ++it;
      }
    }
    auto steady = std::chrono::steady_clock::now();
    for (auto it = grant_requests_.begin(); it != grant_requests_.end();) {
      if (it->second.deadline <= steady) {
        for (auto& cb : it->second.waiters) timed_out.push_back(std::move(cb));
        it = grant_requests_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Enforced here as well as by the control plane's GrantUpdate, so that a sidecar cut off
  // from the control plane still ends sessions when their grants run out.
  for (const auto& id : expired) {
    log::info("grant expired", {{"grant", id}});
    if (hooks_.on_grant_ended) hooks_.on_grant_ended(id, "the grant expired");
  }
  AccessDecision refused;
  refused.refuse_reason = "tollgate: the control plane did not answer the grant request in time";
  for (auto& cb : timed_out) cb(refused);
}

void ControlPlaneClient::requestApproval(const StatementApprovalRequest& request,
                                         ApprovalCallback done) {
  {
    std::unique_lock lock(mu_);
    if (connected_) {
      uint64_t id = next_request_++;
      approvals_[id] = std::move(done);
      v1::SidecarMessage m;
      auto* r = m.mutable_approval_request();
      r->set_request_id(id);
      r->set_session_id(request.session_id);
      r->set_resource(request.resource);
      r->set_statement(request.statement);
      r->set_statement_class(request.statement_class);
      r->set_rule(request.rule);
      r->set_grant_id(request.grant_id);
      outgoing_.push_back(std::move(m));
      lock.unlock();
      cv_.notify_all();
      return;
    }
  }
  done({false, "", "the control plane is unreachable, so nobody can approve it"});
}

namespace {

v1::SidecarMessage sessionReport(const SessionSummary& session, bool ended) {
  v1::SidecarMessage m;
  auto* s = m.mutable_session();
  s->set_session_id(session.session_id);
  s->set_resource(session.resource);
  s->set_protocol(session.protocol);
  s->set_grant_id(session.grant_id);
  s->set_ended(ended);
  s->set_statements(session.statements);
  s->set_blocked(session.blocked);
  s->set_bytes_in(session.bytes_in);
  s->set_bytes_out(session.bytes_out);
  return m;
}

}  // namespace

void ControlPlaneClient::sessionStarted(const SessionSummary& session) {
  if (connected_) enqueue(sessionReport(session, false));
}

void ControlPlaneClient::sessionEnded(const SessionSummary& session) {
  if (connected_) enqueue(sessionReport(session, true));
}

}  // namespace tollgate::sidecar::cp
