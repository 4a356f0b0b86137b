// Data-path sessions as sidecars report them; kill requests routed to the owning sidecar.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/core/auditor.h"
#include "controlplane/core/state_store.h"
#include "controlplane/core/subscribers.h"
#include "tollgate/v1/session.pb.h"
#include "tollgate/v1/stream.pb.h"

namespace tollgate::controlplane::core {

// Sessions keyed by id, persisted in the StateStore. Thread-safe.
class SessionRegistry {
 public:
  SessionRegistry(StateStore& store, Auditor& auditor, ClockPtr clock)
      : store_(store), auditor_(auditor), clock_(std::move(clock)) {}

  absl::Status start();

  // Creates or updates session report.session_id owned by `sidecar_id` (the stream's instance,
  // derived from its token: stream/sidecar_instance.h) and run by `identity`: started_at on
  // first sight, counters replaced, ended_at and end_reason ("ended") set when report.ended.
  // Reports for an ended session, and from any sidecar but the one that reported it first, are
  // ignored.
  v1::Session report(const v1::Identity& identity, const std::string& sidecar_id,
                     const v1::SessionReport& report);

  // Marks every live session of `sidecar_id` ended with `reason` (its stream went away for
  // good, e.g. replaced by a newer instance). Returns how many.
  size_t endAllFor(const std::string& sidecar_id, const std::string& reason);

  absl::StatusOr<v1::Session> get(const std::string& session_id) const;
  // Live ones (and ended ones when include_ended), filtered by resource / principal id when
  // non-empty; newest first.
  std::vector<v1::Session> list(bool include_ended, const std::string& resource,
                                const std::string& principal_id) const;

  // Asks the owning sidecar to end a live session: audits EVENT_SESSION_KILLED by `by`, then
  // calls kill subscribers with (session, reason); the session is marked ended when the
  // sidecar reports it. NOT_FOUND unknown, FAILED_PRECONDITION already ended.
  absl::StatusOr<v1::Session> kill(const std::string& session_id, const std::string& reason,
                                   const v1::Identity& by);

  // The stream server subscribes and sends KillSession to the stream of session.sidecar_id.
  Subscription subscribeKills(
      std::function<void(const v1::Session&, const std::string&)> callback) {
    return kill_subscribers_.add(std::move(callback));
  }

 private:
  StateStore& store_;
  Auditor& auditor_;
  ClockPtr clock_;
  mutable std::mutex mu_;
  std::map<std::string, v1::Session> sessions_;
  Subscribers<v1::Session, std::string> kill_subscribers_;
};

}  // namespace tollgate::controlplane::core
