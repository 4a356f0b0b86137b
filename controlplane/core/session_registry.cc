// SessionRegistry: session state from sidecar reports, listing, and kill routing.
#include "controlplane/core/session_registry.h"

#include <algorithm>

#include "common/log.h"
#include "controlplane/core/time_util.h"

namespace tollgate::controlplane::core {

absl::Status SessionRegistry::start() {
  auto stored = store_.loadSessions();
  if (!stored.ok()) return stored.status();
  std::lock_guard lock(mu_);
  for (auto& s : *stored) sessions_[s.id()] = std::move(s);
  return absl::OkStatus();
}

v1::Session SessionRegistry::report(const v1::Identity& identity, const std::string& sidecar_id,
                                    const v1::SessionReport& r) {
  v1::Session s;
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = sessions_.try_emplace(r.session_id());
    v1::Session& cur = it->second;
    if (!fresh && cur.sidecar_id() != sidecar_id) {
      // Only the sidecar running a session reports on it: another stream that learnt its id
      // must not end it or rewrite its counters.
      log::warn("session report from a sidecar that does not run the session; ignored",
                {{"session", r.session_id()}, {"owner", cur.sidecar_id()}, {"from", sidecar_id}});
      return cur;
    }
    if (!fresh && cur.has_ended_at()) return cur;
    if (fresh) {
      cur.set_id(r.session_id());
      *cur.mutable_identity() = identity;
      cur.set_sidecar_id(sidecar_id);
      *cur.mutable_started_at() = toTimestamp(clock_->now());
    }
    if (!r.resource().empty()) cur.set_resource(r.resource());
    if (!r.grant_id().empty()) cur.set_grant_id(r.grant_id());
    if (!r.protocol().empty()) cur.set_protocol(r.protocol());
    cur.set_statements(r.statements());
    cur.set_blocked(r.blocked());
    cur.set_bytes_in(r.bytes_in());
    cur.set_bytes_out(r.bytes_out());
    if (r.ended()) {
      *cur.mutable_ended_at() = toTimestamp(clock_->now());
      if (cur.end_reason().empty()) cur.set_end_reason("ended");
    }
    s = cur;
  }
  if (auto st = store_.putSession(s); !st.ok()) {
    log::error("storing session failed",
               {{"session", s.id()}, {"error", std::string(st.message())}});
  }
  return s;
}

size_t SessionRegistry::endAllFor(const std::string& sidecar_id, const std::string& reason) {
  std::vector<v1::Session> ended;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, s] : sessions_) {
      if (s.sidecar_id() != sidecar_id || s.has_ended_at()) continue;
      *s.mutable_ended_at() = toTimestamp(clock_->now());
      s.set_end_reason(reason);
      ended.push_back(s);
    }
  }
  for (const auto& s : ended) store_.putSession(s).IgnoreError();
  return ended.size();
}

absl::StatusOr<v1::Session> SessionRegistry::get(const std::string& session_id) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return absl::NotFoundError("no session " + session_id);
  return it->second;
}

std::vector<v1::Session> SessionRegistry::list(bool include_ended, const std::string& resource,
                                               const std::string& principal_id) const {
  std::vector<v1::Session> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, s] : sessions_) {
      if (!include_ended && s.has_ended_at()) continue;
      if (!resource.empty() && s.resource() != resource) continue;
      if (!principal_id.empty() && s.identity().principal_id() != principal_id) continue;
      out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(), [](const v1::Session& x, const v1::Session& y) {
    auto tx = fromTimestamp(x.started_at());
    auto ty = fromTimestamp(y.started_at());
    return tx != ty ? tx > ty : x.id() < y.id();
  });
  return out;
}

absl::StatusOr<v1::Session> SessionRegistry::kill(const std::string& session_id,
                                                  const std::string& reason,
                                                  const v1::Identity& by) {
  v1::Session s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return absl::NotFoundError("no session " + session_id);
    if (it->second.has_ended_at()) {
      return absl::FailedPreconditionError("session " + session_id + " has already ended");
    }
    it->second.set_end_reason("killed by " + by.principal_id() +
                              (reason.empty() ? "" : ": " + reason));
    s = it->second;
  }
  store_.putSession(s).IgnoreError();
  v1::AuditEvent e;
  e.set_type(v1::EVENT_SESSION_KILLED);
  *e.mutable_identity() = by;
  e.mutable_location()->set_resource(s.resource());
  e.mutable_location()->set_session_id(s.id());
  e.mutable_action()->set_detail("session " + s.id() + " of " + s.identity().principal_id() +
                                 " killed" + (reason.empty() ? "" : ": " + reason));
  e.mutable_result()->set_success(true);
  e.mutable_reason()->set_grant_id(s.grant_id());
  auditor_.record(std::move(e)).IgnoreError();
  kill_subscribers_.notify(s, reason);
  return s;
}

}  // namespace tollgate::controlplane::core
