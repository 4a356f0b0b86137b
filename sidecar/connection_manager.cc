// Connection routing, per-worker session ownership and draining (policies and destinations:
// connection_manager_destinations.cc; raw relays and refusals: connection_manager_relays.cc).
#include "sidecar/connection_manager.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/log.h"
#include "policy/engine.h"
#include "sidecar/connection_manager_internal.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar {

namespace {

std::string defaultInstanceName() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

}  // namespace

std::string eventSource(const SidecarConfig& config) {
  return "sidecar/" + (config.instance_name.empty() ? defaultInstanceName() : config.instance_name);
}

ConnectionManager::ConnectionManager(const SidecarConfig& config, SidecarStats& stats,
                                     EventSinkPtr events, CredentialStorePtr credentials,
                                     AccessBrokerPtr access, ResolverPtr resolver, ClockPtr clock)
    : config_(config),
      stats_(stats),
      events_(std::move(events)),
      credentials_(std::move(credentials)),
      access_(std::move(access)),
      resolver_(resolver
                    ? std::move(resolver)
                    : std::make_shared<Resolver>(std::chrono::seconds(config.dns_refresh_seconds))),
      clock_(std::move(clock)) {
  source_ = eventSource(config);
}

ConnectionManager::~ConnectionManager() {
  drainAndStop(std::chrono::seconds(0));
  resolver_->stop();  // no answer comes back to a manager that is going (never started)
}

absl::Status ConnectionManager::start() {
  if (!config_.client_tls.ca_cert.empty()) {
    auto ca =
        tls::CertificateAuthority::load(config_.client_tls.ca_cert, config_.client_tls.ca_key);
    if (!ca.ok()) return ca.status();
    client_ca_ = *ca;
  }
  for (int i = 0; i < config_.workers; ++i) {
    auto w = std::make_unique<WorkerState>("tg-worker-" + std::to_string(i));
    w->worker.start();
    workers_.push_back(std::move(w));
  }
  return absl::OkStatus();
}

void ConnectionManager::updateLive(const policy::CompiledPolicyPtr& policy, uint64_t version) {
  postToWorkers([policy, version](WorkerState& ws) {
    for (auto& [key, t] : ws.terminators) {
      if (t.update_policy) t.update_policy(policy, version);
    }
  });
}

void ConnectionManager::postToWorkers(std::function<void(WorkerState&)> task) {
  std::lock_guard workers_lock(workers_mu_);
  for (auto& w : workers_) {
    WorkerState* ws = w.get();
    ws->worker.post([ws, task] { task(*ws); });
  }
}

std::shared_ptr<const policy::DestinationClaims> ConnectionManager::currentClaims() const {
  std::lock_guard lock(mu_);
  return claims_;
}

std::function<absl::StatusOr<tls::ServerContextPtr>(const std::string&)>
ConnectionManager::clientTls() const {
  if (!client_ca_) return nullptr;  // SSLRequest is declined
  return [ca = client_ca_](const std::string& name) { return ca->serverContextFor(name); };
}

policy::CompiledPolicyPtr ConnectionManager::policy() const {
  std::lock_guard lock(mu_);
  return policy_;
}

absl::StatusOr<tls::ClientContextPtr> ConnectionManager::upstreamTls(
    const policy::Resource& resource) {
  if (resource.upstream.tls == policy::TlsMode::kDisable) return tls::ClientContextPtr();
  std::lock_guard lock(mu_);
  if (auto it = tls_contexts_.find(resource.name); it != tls_contexts_.end()) return it->second;
  tls::ClientOptions opts;
  switch (resource.upstream.tls) {
    case policy::TlsMode::kRequire:
      opts.verify = tls::ClientOptions::Verify::kRequire;
      break;
    case policy::TlsMode::kVerifyCa:
      opts.verify = tls::ClientOptions::Verify::kVerifyCa;
      break;
    default:
      opts.verify = tls::ClientOptions::Verify::kVerifyFull;
      break;
  }
  opts.ca_file = resource.upstream.ca;
  opts.server_name = resource.upstream.server_name.empty() ? resource.upstream.host
                                                           : resource.upstream.server_name;
  auto ctx = tls::ClientContext::create(opts);
  if (!ctx.ok()) return ctx.status();
  tls_contexts_[resource.name] = *ctx;
  return tls::ClientContextPtr(*ctx);
}

void ConnectionManager::accept(AcceptedSocket socket, const std::string& resource_name) {
  ++accepted_;
  policy::CompiledPolicyPtr policy;
  uint64_t version;
  std::shared_ptr<const policy::DestinationClaims> claims;
  {
    std::lock_guard lock(mu_);
    policy = policy_;
    version = policy_version_;
    claims = claims_;
  }
  if (!policy) {
    refuse(socket.fd, socket, "no policy loaded", "no_policy");
    return;
  }
  const policy::Resource* resource = nullptr;
  if (!resource_name.empty()) {
    resource = policy->resource(resource_name);
  } else if (socket.redirected) {
    Destination d = redirectedResource(*policy, *claims, socket.destination);
    if (!d.conflict.empty()) {
      refuse(socket.fd, socket,
             "destination " + socket.destination.toString() +
                 " belongs to more than one resource: " + d.conflict,
             "conflicting_destination");
      return;
    }
    resource = d.resource;
  }
  WorkerState& w = *workers_[next_worker_++ % workers_.size()];
  if (resource == nullptr) {
    if (!resource_name.empty()) {
      refuseInProtocol(w, socket,
                       "this listener's resource " + resource_name +
                           " is not in the policy (version " + std::to_string(version) + ")",
                       "unknown_resource");
      return;
    }
    if (policy->defaults().unknown_destination == policy::UnknownDestination::kPassthrough &&
        socket.redirected) {
      startRelay(w, socket, "", socket.destination.host(), socket.destination.port(), version);
      return;
    }
    refuse(socket.fd, socket,
           "destination " + socket.destination.toString() + " matches no resource",
           "unknown_destination");
    return;
  }
  switch (resource->protocol) {
    case policy::Protocol::kPostgres:
      startPostgres(w, std::move(socket), std::move(policy), version, resource);
      return;
    case policy::Protocol::kTcp:
      startRelay(w, socket, resource->name, resource->upstream.host, resource->upstream.port,
                 version);
      return;
    default: {
      const std::string why = "resource " + resource->name + " uses protocol " +
                              std::string(policy::protocolName(resource->protocol)) +
                              ", which this sidecar does not speak yet (it serves postgres "
                              "and tcp)";
      // A job dialling an explicit listener may be a PostgreSQL client sent to the wrong
      // resource; a redirected one speaks the resource's protocol, which gets nothing.
      if (!resource_name.empty()) {
        refuseInProtocol(w, socket, why, "unsupported_protocol");
      } else {
        refuse(socket.fd, socket, why, "unsupported_protocol");
      }
    }
  }
}

// Sessions are owned by their worker's map and removed from it by a task posted when they are
// done, never from inside their own callbacks.
void ConnectionManager::forget(WorkerState& w, void* key) {
  if (auto it = w.terminators.find(key); it != w.terminators.end()) {
    if (!it->second.session_id.empty() && it->second.summary) {
      access_->sessionEnded(it->second.summary());
    }
    w.terminators.erase(it);
  }
  w.sessions.erase(key);
  --active_;
}

void ConnectionManager::startPostgres(WorkerState& w, AcceptedSocket socket,
                                      policy::CompiledPolicyPtr policy, uint64_t version,
                                      const policy::Resource* resource) {
  ++active_;
  w.worker.post([this, &w, socket, policy = std::move(policy), version, resource]() mutable {
    // The decision may take a while (a grant waiting for approval); the client's startup
    // packet waits in the socket meanwhile.
    access_->acquire(
        policy, resource->name, [this, &w, socket, policy, version, resource](AccessDecision d) {
          w.worker.post([this, &w, socket, policy, version, resource, d = std::move(d)]() mutable {
            runPostgres(w, socket, policy, version, resource, std::move(d));
          });
        });
  });
}

void ConnectionManager::runPostgres(WorkerState& w, const AcceptedSocket& socket,
                                    policy::CompiledPolicyPtr policy, uint64_t version,
                                    const policy::Resource* resource, AccessDecision access) {
  {
    postgres::SessionConfig sc;
    sc.policy = policy;
    sc.resource = resource;
    sc.masker = policy->masker(resource->name);
    sc.identity = access_->identity();
    sc.role = access.role;
    sc.access_rule = access.access_rule;
    sc.grant_id = access.grant_id;
    sc.approvals = access_;
    sc.hold_reviews = !access.grant_id.empty();
    sc.audit_sync = policy->defaults().audit == policy::AuditMode::kSync;
    sc.post = [&w](std::function<void()> fn) { w.worker.post(std::move(fn)); };
    if (!access.allowed) sc.refuse_reason = access.refuse_reason;
    if (!access.allowed && access.audit_backlog) {
      // Each refused connection would add an event to the spool it waits on (a job
      // reconnecting in a loop): the first is recorded, the rest counted into one event.
      if (backlog_refusals_.fetch_add(1) > 0) sc.record_refusal = false;
    } else if (access.allowed) {
      recordBacklogRefusals();
    }
    sc.policy_version = version;
    sc.analyzer = &analyzer_;
    sc.credentials = credentials_;
    sc.events = events_;
    sc.cancels = &cancels_;
    sc.cancel_upstream = [this, &w, policy, resource](const postgres::CancelTarget& target) {
      // Posted: the session asking is in the middle of ending, maybe inside a walk of the
      // worker's sessions.
      w.worker.post(
          [this, &w, policy, resource, target] { cancelUpstream(w, policy, resource, target); });
    };
    sc.type_catalogs = &type_catalogs_;
    sc.scram_keys = &scram_keys_;
    sc.stats = &stats_.resource(resource->name);
    if (auto tls_ctx = upstreamTls(*resource); tls_ctx.ok()) {
      sc.upstream_tls = *tls_ctx;
    } else if (sc.refuse_reason.empty()) {
      sc.refuse_reason = "tollgate: TLS settings of resource " + resource->name +
                         " are unusable: " + std::string(tls_ctx.status().message());
    }
    sc.client_tls = clientTls();
    // Looked up when the session connects: after the access decision and the client's
    // startup, and never on this loop.
    sc.resolve_upstream = [resolver = resolver_, ws = &w, host = resource->upstream.host,
                           port = resource->upstream.port](const AddressCallback& done) {
      if (auto numeric = parseSocketAddress(host, port)) {
        done(AddressList{*numeric});
        return;
      }
      resolver->resolve(host, [ws, port, done](absl::StatusOr<AddressList> addresses) {
        if (addresses.ok()) addresses = withPort(*std::move(addresses), port);
        ws->worker.post([done, addresses = std::move(addresses)] { done(addresses); });
      });
    };
    sc.upstream_server_name = resource->upstream.server_name.empty()
                                  ? resource->upstream.host
                                  : resource->upstream.server_name;
    sc.client_address = socket.peer.toString();
    // The address the client dialled: the original destination after a redirect, the
    // listener's own address otherwise. Clients that dial a name send it as SNI, and the
    // certificate is then minted for that name instead.
    sc.destination_name = socket.destination.host();
    sc.source = source_;
    sc.max_statement_bytes = config_.max_statement_bytes;
    sc.max_message_bytes = config_.max_message_bytes;
    auto session =
        std::make_shared<postgres::PostgresSession>(w.worker.loop(), std::move(sc), nullptr);
    void* key = session.get();
    std::weak_ptr<postgres::PostgresSession> weak = session;
    session->setOnDone([this, &w, key] { w.worker.post([this, &w, key] { forget(w, key); }); });
    w.terminators[key] =
        Tracked{[weak](const std::string& reason) {
                  if (auto s = weak.lock()) s->terminate(reason);
                },
                session->id(),
                resource->name,
                access.grant_id,
                [weak, id = session->id(), name = resource->name, grant = access.grant_id] {
                  SessionSummary summary{id, name, "postgres", grant};
                  if (auto s = weak.lock()) {
                    summary.statements = s->statementCount();
                    summary.blocked = s->blockedCount();
                    summary.bytes_in = s->bytesIn();
                    summary.bytes_out = s->bytesOut();
                  }
                  return summary;
                },
                [weak, limit = std::chrono::seconds(config_.startup_timeout_seconds)](
                    std::chrono::steady_clock::time_point now) {
                  auto s = weak.lock();
                  return s != nullptr && s->startupOverdue(now, limit);
                },
                nullptr};
    if (access.allowed) {
      // A grant's role stands until the control plane ends the grant; standalone access comes
      // from the policy's own rules.
      w.terminators[key].update_policy = [this, weak, name = resource->name,
                                          standalone = config_.control_plane.address.empty()](
                                             const policy::CompiledPolicyPtr& p, uint64_t v) {
        auto s = weak.lock();
        if (s == nullptr) return;
        postgres::SessionPolicyUpdate update{p, v, std::nullopt};
        if (standalone) update.access = localAccess(*p, access_->identity(), name);
        s->updatePolicy(std::move(update));
      };
    }
    w.sessions[key] = session;
    if (auto st = session->start(socket.fd); !st.ok()) {
      log::warn("session failed to start", {{"error", std::string(st.message())}});
      ::close(socket.fd);
      forget(w, key);
      return;
    }
    if (access.allowed) access_->sessionStarted(w.terminators[key].summary());
    if (auto it = w.terminators.find(key); it != w.terminators.end()) catchUp(it->second, version);
  }
}

void ConnectionManager::cancelUpstream(WorkerState& w, const policy::CompiledPolicyPtr& policy,
                                       const policy::Resource* resource,
                                       const postgres::CancelTarget& target) {
  postgres::SessionConfig sc;
  sc.policy = policy;  // keeps `resource` alive
  sc.resource = resource;
  sc.source = source_;
  sc.record_refusal = false;  // an unreachable server is logged, not a refused job
  auto session =
      std::make_shared<postgres::PostgresSession>(w.worker.loop(), std::move(sc), nullptr);
  void* key = session.get();
  session->setOnDone([this, &w, key] { w.worker.post([this, &w, key] { forget(w, key); }); });
  ++active_;
  w.sessions[key] = session;
  session->startCancelOf(target);
}

void ConnectionManager::catchUp(const Tracked& tracked, uint64_t version) {
  if (!tracked.update_policy) return;
  policy::CompiledPolicyPtr current;
  uint64_t current_version = 0;
  {
    std::lock_guard lock(mu_);
    current = policy_;
    current_version = policy_version_;
  }
  if (current && current_version != version) tracked.update_policy(current, current_version);
}

void ConnectionManager::endSessions(std::function<bool(const Tracked&)> match,
                                    const std::string& reason) {
  postToWorkers([match, reason](WorkerState& ws) {
    std::vector<std::function<void(const std::string&)>> doomed;
    for (auto& [key, t] : ws.terminators) {
      if (match(t)) doomed.push_back(t.terminate);
    }
    for (auto& fn : doomed) fn(reason);
  });
}

void ConnectionManager::endStalledStartups() {
  const auto now = clock_->monotonic();
  endSessions([now](const Tracked& t) { return t.startup_overdue && t.startup_overdue(now); },
              "the client did not complete its startup within " +
                  std::to_string(config_.startup_timeout_seconds) + " s");
}

void ConnectionManager::endSessionsOnGrant(const std::string& grant_id, const std::string& reason) {
  if (grant_id.empty()) return;
  endSessions([grant_id](const Tracked& t) { return t.grant_id == grant_id; }, reason);
}

void ConnectionManager::killSession(const std::string& session_id, const std::string& reason) {
  if (session_id.empty()) return;  // relays waiting for DNS have no id yet
  endSessions([session_id](const Tracked& t) { return t.session_id == session_id; },
              "session killed by an operator: " + reason);
}

void ConnectionManager::drainAndStop(std::chrono::seconds grace) {
  if (workers_.empty()) return;
  recordBacklogRefusals();
  // Refusals owe their clients nothing more than the FATAL: the drain does not wait for them.
  endSessions([](const Tracked& t) { return t.refusal_only; }, "the sidecar is shutting down");
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (active_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (active_.load() > 0) {
    log::info("ending remaining sessions", {{"sessions", std::to_string(active_.load())}});
    postToWorkers([](WorkerState& ws) {
      auto terminators = ws.terminators;
      for (auto& [key, t] : terminators) t.terminate("the sidecar is shutting down");
    });
    auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (active_.load() > 0 && std::chrono::steady_clock::now() < hard) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  {
    // Other threads (the control plane's) post to the workers under workers_mu_.
    std::lock_guard workers_lock(workers_mu_);
    for (auto& w : workers_) {
      WorkerState* ws = w.get();
      // Whatever is left is closed with the loop.
      ws->worker.setOnStop([ws] {
        ws->terminators.clear();
        ws->sessions.clear();
      });
      ws->worker.stop();
    }
    // Kept (stopped: posts are dropped) until the manager goes: callbacks that outlive the
    // sessions (a control plane answering late as it stops) still post to them.
    for (auto& w : workers_) retired_workers_.push_back(std::move(w));
    workers_.clear();
  }
  // Lookups still in flight answer nobody from now on (a policy update's included).
  resolver_->stop();
}

}  // namespace tollgate::sidecar
