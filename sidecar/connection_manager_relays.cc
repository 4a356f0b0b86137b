// Connection manager: raw TCP relays (a tcp resource, or passthrough of an unknown
// destination) and refused connections, recorded and, for PostgreSQL clients, told why.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "common/log.h"
#include "sidecar/connection_manager.h"
#include "sidecar/connection_manager_internal.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/session.h"
#include "sidecar/tcp/relay.h"

namespace tollgate::sidecar {

v1::AuditEvent ConnectionManager::refusalEvent(const std::string& detail,
                                               const std::string& rule) const {
  v1::AuditEvent e;
  e.set_type(v1::EVENT_CONNECTION_REFUSED);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  e.mutable_time()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  e.set_time_source("system");
  e.mutable_identity()->set_subject(access_->identity().subject);
  e.mutable_location()->set_source(source_);
  e.mutable_action()->set_detail(detail);
  e.mutable_result()->set_success(false);
  e.mutable_reason()->set_decision(v1::DECISION_BLOCK);
  e.mutable_reason()->add_rule_ids(rule);
  return e;
}

void ConnectionManager::recordBacklogRefusals() {
  const uint64_t refused = backlog_refusals_.exchange(0);
  if (refused <= 1 || !events_) return;
  events_->publish(refusalEvent(std::to_string(refused - 1) + " more connection" +
                                    (refused == 2 ? "" : "s") +
                                    " refused while audit events could not be spooled, "
                                    "recorded as this one event",
                                "audit:backlog"));
}

void ConnectionManager::recordRefusal(const AcceptedSocket& socket, const std::string& reason,
                                      const std::string& stat) {
  log::warn("connection refused", {{"client", socket.peer.toString()},
                                   {"destination", socket.destination.toString()},
                                   {"reason", reason}});
  stats_.connectionRefused(stat);
  if (events_) {
    // The rule that refused it: the policy's default for a destination no resource claims, or
    // the sidecar's own reason (no policy, a contested destination, an unresolvable upstream).
    v1::AuditEvent e =
        refusalEvent(reason, stat == "unknown_destination" ? "defaults.unknownDestination:deny"
                                                           : "sidecar:" + stat);
    e.mutable_location()->set_upstream(socket.destination.toString());
    e.mutable_location()->set_client_addr(socket.peer.toString());
    events_->publish(std::move(e));
  }
}

void ConnectionManager::refuse(int fd, const AcceptedSocket& socket, const std::string& reason,
                               const std::string& stat) {
  recordRefusal(socket, reason, stat);
  ::close(fd);
}

void ConnectionManager::refuseInProtocol(WorkerState& w, const AcceptedSocket& socket,
                                         const std::string& reason, const std::string& stat) {
  recordRefusal(socket, reason, stat);
  ++active_;
  w.worker.post([this, &w, socket, reason] {
    postgres::SessionConfig sc;
    sc.refuse_reason = "tollgate: " + reason;
    sc.refuse_sqlstate = std::string(postgres::kSqlStateConnectionRejected);
    sc.record_refusal = false;  // recorded above, under its rule
    sc.client_address = socket.peer.toString();
    sc.destination_name = socket.destination.host();
    sc.source = source_;
    sc.client_tls = clientTls();
    auto session =
        std::make_shared<postgres::PostgresSession>(w.worker.loop(), std::move(sc), nullptr);
    void* key = session.get();
    std::weak_ptr<postgres::PostgresSession> weak = session;
    session->setOnDone([this, &w, key] { w.worker.post([this, &w, key] { forget(w, key); }); });
    const auto limit = std::min<std::chrono::seconds>(
        kRefusalWait, std::chrono::seconds(config_.startup_timeout_seconds));
    // Ended early (shutdown, a silent client), it still says why it was refused.
    w.terminators[key] = Tracked{[weak, reason](const std::string&) {
                                   if (auto s = weak.lock()) {
                                     s->terminate(reason, postgres::kSqlStateConnectionRejected);
                                   }
                                 },
                                 session->id(),
                                 "",
                                 "",
                                 nullptr,
                                 [weak, limit](std::chrono::steady_clock::time_point now) {
                                   auto s = weak.lock();
                                   return s != nullptr && s->startupOverdue(now, limit);
                                 },
                                 nullptr,
                                 true};
    w.sessions[key] = session;
    if (auto st = session->start(socket.fd); !st.ok()) {
      log::warn("session failed to start", {{"error", std::string(st.message())}});
      ::close(socket.fd);
      forget(w, key);
    }
  });
}

void ConnectionManager::startRelay(WorkerState& w, const AcceptedSocket& socket,
                                   const std::string& resource, const std::string& host, int port,
                                   uint64_t version) {
  ++active_;
  WorkerState* ws = &w;
  if (auto numeric = parseSocketAddress(host, port)) {
    ws->worker.post([this, ws, socket, resource, version, upstream = AddressList{*numeric}] {
      runRelay(*ws, socket, resource, upstream, version);
    });
    return;
  }
  // The client socket is held (not read) until the address is known, tracked like a session
  // so that the startup timeout and a shutdown end it; nothing of the connection is touched
  // but its descriptor. The answer comes at once for a known name, else on a resolver thread:
  // either way the relay starts on the worker (after this registration, which is posted
  // first), and no loop waits for DNS.
  auto pending = std::make_shared<PendingRelay>(
      PendingRelay{socket, resource, host, port, version, clock_->monotonic()});
  ws->worker.post([this, ws, pending,
                   limit = std::chrono::seconds(config_.startup_timeout_seconds)] {
    Tracked t;
    t.resource = pending->resource;
    t.terminate = [this, ws, pending, limit](const std::string& reason) {
      if (pending->settled) return;
      pending->settled = true;
      ws->terminators.erase(pending.get());
      std::string why = "upstream " + pending->host;
      if (pending->overdue) {
        why +=
            " did not resolve within the startup timeout (" + std::to_string(limit.count()) + " s)";
      } else {
        why += " was not resolved yet: " + reason;
      }
      refuse(pending->socket.fd, pending->socket, why, "upstream_unresolved");
      --active_;
    };
    // Marks it too, so that terminate() (which endStalledStartups() calls next) says why.
    t.startup_overdue = [pending, limit](std::chrono::steady_clock::time_point now) {
      pending->overdue = !pending->settled && now - pending->accepted >= limit;
      return pending->overdue;
    };
    ws->terminators[pending.get()] = std::move(t);
  });
  resolver_->resolve(host, [this, ws, pending](absl::StatusOr<AddressList> upstream) {
    ws->worker.post([this, ws, pending, upstream = std::move(upstream)]() mutable {
      endPending(*ws, pending, std::move(upstream));
    });
  });
}

void ConnectionManager::endPending(WorkerState& w, const std::shared_ptr<PendingRelay>& pending,
                                   absl::StatusOr<AddressList> upstream) {
  // Refused meanwhile (the startup timeout, a shutdown): the descriptor was closed, and its
  // number may be another connection's by now.
  if (pending->settled) return;
  pending->settled = true;
  w.terminators.erase(pending.get());
  if (upstream.ok()) upstream = withPort(*std::move(upstream), pending->port);
  runRelay(w, pending->socket, pending->resource, std::move(upstream), pending->version);
}

void ConnectionManager::runRelay(WorkerState& w, const AcceptedSocket& socket,
                                 const std::string& resource, absl::StatusOr<AddressList> upstream,
                                 uint64_t version) {
  if (!upstream.ok()) {
    refuse(socket.fd, socket, std::string(upstream.status().message()), "upstream_unresolved");
    --active_;
    return;
  }
  if (std::string why = resource.empty() ? "" : gatedUpstream(resource, *upstream); !why.empty()) {
    refuse(socket.fd, socket, why, "conflicting_destination");
    --active_;
    return;
  }
  TcpRelay::Info info{resource, socket.peer.toString(), source_, config_.identity.subject};
  auto relay = std::make_shared<TcpRelay>(w.worker.loop(), info, events_, nullptr);
  void* key = relay.get();
  relay->setOnDone([this, &w, key] { w.worker.post([this, &w, key] { forget(w, key); }); });
  w.sessions[key] = relay;
  // Registered like a session, so a shutdown ends it and records its end.
  std::weak_ptr<TcpRelay> weak = relay;
  w.terminators[key] =
      Tracked{[weak](const std::string& reason) {
                if (auto r = weak.lock()) r->terminate(reason);
              },
              relay->id(),
              resource,
              "",
              [id = relay->id(), resource] {
                return SessionSummary{id, resource, "tcp", ""};
              },
              nullptr,
              [this, weak, resource, destination = socket.destination](
                  const policy::CompiledPolicyPtr& p, uint64_t v) {
                auto r = weak.lock();
                if (r == nullptr) return;
                std::string why = relayEndedBy(*p, resource, destination);
                if (why.empty()) return;
                log::info("relay ended by a policy update",
                          {{"session", r->id()}, {"policy_version", std::to_string(v)}});
                r->terminate(why + " (policy version " + std::to_string(v) + ")");
              }};
  if (auto st = relay->start(socket.fd, *std::move(upstream)); !st.ok()) {
    log::warn("relay failed to start", {{"error", std::string(st.message())}});
    ::close(socket.fd);
    forget(w, key);
    return;
  }
  catchUp(w.terminators[key], version);
}

std::string ConnectionManager::gatedUpstream(const std::string& resource,
                                             const AddressList& upstream) const {
  std::shared_ptr<const policy::DestinationClaims> claims = currentClaims();
  for (const auto& address : upstream) {
    const std::string host = policy::canonicalAddress(address.host()).value_or(address.host());
    // Connecting to 0.0.0.0 or :: reaches this host's own servers, whatever address they are
    // claimed under.
    if (host == "0.0.0.0" || host == "::") {
      return "resource " + resource + "'s upstream resolves to the unspecified address " + host;
    }
    if (claims == nullptr) continue;
    if (const auto* gated = claims->gatedClaimBesides(host, address.port(), resource)) {
      return "resource " + resource + "'s upstream resolves to " + address.toString() +
             ", which resource " + gated->resource + " claims";
    }
  }
  return "";
}

std::string ConnectionManager::relayEndedBy(const policy::CompiledPolicy& policy,
                                            const std::string& resource,
                                            const SocketAddress& destination) const {
  if (!resource.empty()) {
    const policy::Resource* r = policy.resource(resource);
    if (r != nullptr && r->protocol == policy::Protocol::kTcp) return "";
    return "resource " + resource + " is no longer a tcp resource of the policy";
  }
  std::shared_ptr<const policy::DestinationClaims> claims = currentClaims();
  Destination d = redirectedResource(policy, *claims, destination);
  if (d.resource != nullptr) {
    return "destination " + destination.toString() + " now belongs to resource " + d.resource->name;
  }
  if (!d.conflict.empty()) {
    return "destination " + destination.toString() + " now belongs to more than one resource";
  }
  if (policy.defaults().unknown_destination != policy::UnknownDestination::kPassthrough) {
    return "the policy no longer passes unknown destinations through";
  }
  return "";
}

}  // namespace tollgate::sidecar
