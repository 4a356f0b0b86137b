// Connection routing, per-worker session ownership and draining.
#include "sidecar/connection_manager.h"

#include <netdb.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <thread>

#include "common/log.h"
#include "policy/engine.h"
#include "sidecar/postgres/session.h"
#include "sidecar/tcp/relay.h"

namespace tollgate::sidecar {

// What the manager keeps about a live session to end it from outside.
struct ConnectionManager::Tracked {
  std::function<void(const std::string&)> terminate;
  std::string session_id;
  std::string resource;
  std::string grant_id;
  // The session as the control plane's session list shows it, counters as of now.
  std::function<SessionSummary()> summary;
  // True while it is past the startup deadline without having started (nullable).
  std::function<bool(std::chrono::steady_clock::time_point)> startup_overdue;
  // Hands the session a newer policy (nullable: relays follow none).
  std::function<void(const policy::CompiledPolicyPtr&, uint64_t)> update_policy;
};

// A worker and the sessions living on it (touched only on that worker's thread).
struct ConnectionManager::WorkerState {
  explicit WorkerState(std::string name) : worker(std::move(name)) {}
  Worker worker;
  std::unordered_map<void*, std::shared_ptr<void>> sessions;
  std::unordered_map<void*, Tracked> terminators;
};

namespace {

std::string defaultInstanceName() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

// Resolves host:port (numeric addresses without a lookup). Blocking; called on a worker for
// names, which keeps the main loop free. Policies normally name Kubernetes Services, which
// the pod's resolver answers from cluster DNS quickly.
absl::StatusOr<SocketAddress> resolve(const std::string& host, int port) {
  if (auto numeric = parseSocketAddress(host, port)) return *numeric;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  SocketAddress a;
  std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  freeaddrinfo(res);
  return a;
}

// Every address `host` stands for, as SocketAddress::host() writes them: an IP literal in its
// canonical form ("FD77:0:0::1" is "fd77::1"), or the addresses a name resolves to now.
// Wildcard patterns ("*.svc") stand for none: a redirected connection shows only its IP.
std::vector<std::string> addressesOf(const std::string& host) {
  if (auto numeric = parseSocketAddress(host, 0)) return {numeric->host()};
  if (host.empty() || host[0] == '*') return {};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::vector<std::string> out;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0) {
    log::warn("a match.hosts name does not resolve; redirected connections to it will not match",
              {{"host", host}, {"error", gai_strerror(rc)}});
    return out;
  }
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    SocketAddress s;
    std::memcpy(&s.storage, a->ai_addr, a->ai_addrlen);
    s.len = a->ai_addrlen;
    if (std::find(out.begin(), out.end(), s.host()) == out.end()) out.push_back(s.host());
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace

std::string eventSource(const SidecarConfig& config) {
  return "sidecar/" + (config.instance_name.empty() ? defaultInstanceName() : config.instance_name);
}

ConnectionManager::ConnectionManager(const SidecarConfig& config, SidecarStats& stats,
                                     EventSinkPtr events, CredentialStorePtr credentials,
                                     AccessBrokerPtr access)
    : config_(config),
      stats_(stats),
      events_(std::move(events)),
      credentials_(std::move(credentials)),
      access_(std::move(access)) {
  source_ = eventSource(config);
}

ConnectionManager::~ConnectionManager() { drainAndStop(std::chrono::seconds(0)); }

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

void ConnectionManager::setPolicy(policy::CompiledPolicyPtr policy, uint64_t version) {
  // Transparent mode sees a redirected connection's IP only: names in match.hosts are resolved
  // now (at load and reload), IP literals written canonically.
  auto addresses = std::make_shared<ResourceAddresses>();
  if (policy) {
    for (const auto& r : policy->document().resources) {
      std::vector<std::string>& ips = (*addresses)[r.name];
      for (const auto& host : policy::effectiveHosts(r)) {
        for (auto& ip : addressesOf(host)) ips.push_back(std::move(ip));
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    policy_ = policy;
    policy_version_ = version;
    resource_addresses_ = std::move(addresses);
    tls_contexts_.clear();
  }
  // Live sessions adopt it too, each before its next statement.
  if (!policy) return;
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

const policy::Resource* ConnectionManager::redirectedResource(const policy::CompiledPolicy& policy,
                                                              const ResourceAddresses& addresses,
                                                              const SocketAddress& destination) {
  if (const auto* r = policy.resourceFor(destination.host(), destination.port())) return r;
  const std::string ip = destination.host();
  for (const auto& r : policy.document().resources) {
    const std::vector<int> ports = policy::effectivePorts(r);
    if (std::find(ports.begin(), ports.end(), destination.port()) == ports.end()) continue;
    auto it = addresses.find(r.name);
    if (it != addresses.end() &&
        std::find(it->second.begin(), it->second.end(), ip) != it->second.end()) {
      return &r;
    }
  }
  return nullptr;
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

void ConnectionManager::refuse(int fd, const AcceptedSocket& socket, const std::string& reason,
                               const std::string& stat) {
  log::warn("connection refused", {{"client", socket.peer.toString()},
                                   {"destination", socket.destination.toString()},
                                   {"reason", reason}});
  stats_.connectionRefused(stat);
  if (events_) {
    v1::AuditEvent e = refusalEvent(reason, "defaults.unknownDestination:deny");
    e.mutable_location()->set_upstream(socket.destination.toString());
    e.mutable_location()->set_client_addr(socket.peer.toString());
    events_->publish(std::move(e));
  }
  ::close(fd);
}

void ConnectionManager::accept(AcceptedSocket socket, const std::string& resource_name) {
  ++accepted_;
  policy::CompiledPolicyPtr policy;
  uint64_t version;
  std::shared_ptr<const ResourceAddresses> addresses;
  {
    std::lock_guard lock(mu_);
    policy = policy_;
    version = policy_version_;
    addresses = resource_addresses_;
  }
  if (!policy) {
    refuse(socket.fd, socket, "no policy loaded", "no_policy");
    return;
  }
  const policy::Resource* resource =
      resource_name.empty()
          ? (socket.redirected ? redirectedResource(*policy, *addresses, socket.destination)
                               : nullptr)
          : policy->resource(resource_name);
  WorkerState& w = *workers_[next_worker_++ % workers_.size()];
  if (resource == nullptr) {
    if (!resource_name.empty()) {
      refuse(socket.fd, socket, "listener names unknown resource " + resource_name,
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
    default:
      refuse(socket.fd, socket,
             "resource " + resource->name + " uses protocol " +
                 std::string(policy::protocolName(resource->protocol)) +
                 ", which this sidecar does not speak yet",
             "unsupported_protocol");
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

void ConnectionManager::startRelay(WorkerState& w, const AcceptedSocket& socket,
                                   const std::string& resource, const std::string& host, int port,
                                   uint64_t version) {
  ++active_;
  // Name resolution may block, so it runs on the worker, never on the accepting main loop.
  w.worker.post([this, &w, socket, resource, host, port, version] {
    auto upstream = resolve(host, port);
    if (!upstream.ok()) {
      refuse(socket.fd, socket, std::string(upstream.status().message()), "upstream_unresolved");
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
    if (auto st = relay->start(socket.fd, *upstream); !st.ok()) {
      log::warn("relay failed to start", {{"error", std::string(st.message())}});
      ::close(socket.fd);
      forget(w, key);
      return;
    }
    catchUp(w.terminators[key], version);
  });
}

std::string ConnectionManager::relayEndedBy(const policy::CompiledPolicy& policy,
                                            const std::string& resource,
                                            const SocketAddress& destination) const {
  if (!resource.empty()) {
    const policy::Resource* r = policy.resource(resource);
    if (r != nullptr && r->protocol == policy::Protocol::kTcp) return "";
    return "resource " + resource + " is no longer a tcp resource of the policy";
  }
  std::shared_ptr<const ResourceAddresses> addresses;
  {
    std::lock_guard lock(mu_);
    addresses = resource_addresses_;
  }
  if (const policy::Resource* r = redirectedResource(policy, *addresses, destination)) {
    return "destination " + destination.toString() + " now belongs to resource " + r->name;
  }
  if (policy.defaults().unknown_destination != policy::UnknownDestination::kPassthrough) {
    return "the policy no longer passes unknown destinations through";
  }
  return "";
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
    if (client_ca_) {
      auto ca = client_ca_;
      sc.client_tls = [ca](const std::string& name) { return ca->serverContextFor(name); };
    }
    if (auto addr = resolve(resource->upstream.host, resource->upstream.port); addr.ok()) {
      sc.upstream_address = *addr;
    } else if (sc.refuse_reason.empty()) {
      sc.refuse_reason =
          "tollgate: resource " + resource->name + ": " + std::string(addr.status().message());
    }
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
  const auto now = std::chrono::steady_clock::now();
  endSessions([now](const Tracked& t) { return t.startup_overdue && t.startup_overdue(now); },
              "the client did not complete its startup within " +
                  std::to_string(config_.startup_timeout_seconds) + " s");
}

void ConnectionManager::endSessionsOnGrant(const std::string& grant_id, const std::string& reason) {
  if (grant_id.empty()) return;
  endSessions([grant_id](const Tracked& t) { return t.grant_id == grant_id; }, reason);
}

void ConnectionManager::killSession(const std::string& session_id, const std::string& reason) {
  endSessions([session_id](const Tracked& t) { return t.session_id == session_id; },
              "session killed by an operator: " + reason);
}

void ConnectionManager::drainAndStop(std::chrono::seconds grace) {
  if (workers_.empty()) return;
  recordBacklogRefusals();
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

}  // namespace tollgate::sidecar
