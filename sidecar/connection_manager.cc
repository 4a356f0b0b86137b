// Connection routing, per-worker session ownership and draining.
#include "sidecar/connection_manager.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "policy/engine.h"
#include "sidecar/postgres/error.h"
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
  // Only tells its client why it is refused (refuseInProtocol()): a drain ends it at once.
  bool refusal_only = false;
};

// A raw relay's client held while its upstream's address is looked up (startRelay()). Touched
// only on its worker's thread.
struct ConnectionManager::PendingRelay {
  AcceptedSocket socket;
  std::string resource;
  std::string host;
  int port = 0;
  uint64_t version = 0;
  std::chrono::steady_clock::time_point accepted;
  bool overdue = false;  // found past the startup timeout by endStalledStartups()
  bool settled = false;  // relayed or refused: the descriptor is no longer this one's
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

// The names a policy's destination claims depend on (match.hosts and upstream hosts that are
// neither IP literals nor patterns), in lower case.
std::vector<std::string> claimNames(const policy::PolicyDocument& doc) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& host) {
    if (host.empty() || host.find('*') != std::string::npos || policy::canonicalAddress(host)) {
      return;
    }
    std::string name = absl::AsciiStrToLower(host);
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  };
  for (const auto& r : doc.resources) {
    for (const auto& host : policy::effectiveHosts(r)) add(host);
    add(r.upstream.host);
  }
  return out;
}

// The claims of `doc` with its names standing for the addresses `answers` gave them.
policy::DestinationClaims claimsFor(
    const policy::PolicyDocument& doc,
    const absl::flat_hash_map<std::string, absl::StatusOr<AddressList>>& answers) {
  return policy::DestinationClaims::build(doc, [&answers](const std::string& host) {
    std::vector<std::string> out;
    if (auto ip = policy::canonicalAddress(host)) {
      out.push_back(*ip);
      return out;
    }
    auto it = answers.find(absl::AsciiStrToLower(host));
    if (it == answers.end() || !it->second.ok()) return out;
    for (const auto& a : *it->second) {
      std::string ip = a.host();
      out.push_back(policy::canonicalAddress(ip).value_or(ip));
    }
    return out;
  });
}

// Every conflict of `claims`, one per line.
std::string conflictText(const policy::DestinationClaims& claims) {
  std::string out;
  for (const auto& c : claims.conflicts())
    absl::StrAppend(&out, out.empty() ? "" : "\n", c.message());
  return out;
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

void ConnectionManager::setPolicy(policy::CompiledPolicyPtr policy, uint64_t version,
                                  std::function<void(absl::Status)> done) {
  const uint64_t request = ++policy_requests_;
  std::vector<std::string> names;
  if (policy) names = claimNames(policy->document());
  // Names with a fresh answer answer at once; a stale one is looked up first (kWait): the
  // policy's claims are checked against what DNS says now, or a tcp resource whose name moved
  // onto a gated server would pass on an old answer.
  resolveNames(
      names,
      [this, policy = std::move(policy), version, request, names,
       done = std::move(done)](const ResolvedNames& answers) {
        absl::Status st = install(policy, version, request, names, answers);
        if (done) done(st);
      },
      Resolver::IfStale::kWait);
}

void ConnectionManager::resolveNames(const std::vector<std::string>& names,
                                     std::function<void(ResolvedNames)> done,
                                     Resolver::IfStale if_stale) {
  if (names.empty()) {
    done({});
    return;
  }
  struct Gather {
    std::mutex mu;
    size_t left = 0;
    ResolvedNames answers;
    std::function<void(ResolvedNames)> done;
  };
  auto gather = std::make_shared<Gather>();
  gather->left = names.size();
  gather->done = std::move(done);
  for (const auto& name : names) {
    resolver_->resolve(
        name,
        [gather, name](absl::StatusOr<AddressList> addresses) {
          std::unique_lock lock(gather->mu);
          gather->answers[name] = std::move(addresses);
          if (--gather->left > 0) return;
          lock.unlock();
          gather->done(std::move(gather->answers));
        },
        if_stale);
  }
}

absl::Status ConnectionManager::install(const policy::CompiledPolicyPtr& policy, uint64_t version,
                                        uint64_t request, std::vector<std::string> names,
                                        const ResolvedNames& answers) {
  auto claims = std::make_shared<policy::DestinationClaims>();
  if (policy) *claims = claimsFor(policy->document(), answers);
  if (claims->hasFatalConflict()) {
    return absl::FailedPreconditionError("two resources claim one destination: " +
                                         claims->fatalMessage());
  }
  for (const auto& [name, answer] : answers) {
    if (answer.ok()) continue;
    log::warn(
        "a host name of the policy does not resolve; redirected connections to it are not "
        "mapped to its resource until it does",
        {{"host", name}, {"error", std::string(answer.status().message())}});
  }
  {
    std::lock_guard lock(mu_);
    if (request <= policy_request_) {
      return absl::CancelledError("a policy given later was installed first");
    }
    policy_request_ = request;
    policy_ = policy;
    policy_version_ = version;
    claims_ = claims;
    claim_names_ = std::move(names);
    claims_resolved_at_ = clock_->monotonic();
    refresh_conflicts_ = conflictText(*claims);
    tls_contexts_.clear();
  }
  for (const auto& c : claims->conflicts()) {
    log::warn("two resources share an upstream no match names; connections to it are refused",
              {{"conflict", c.message()}});
  }
  // Live sessions adopt it too, each before its next statement.
  if (policy) updateLive(policy, version);
  return absl::OkStatus();
}

void ConnectionManager::refreshDestinations(std::function<void()> done) {
  policy::CompiledPolicyPtr policy;
  std::vector<std::string> names;
  uint64_t request = 0;
  {
    std::lock_guard lock(mu_);
    if (!policy_ || claim_names_.empty() || refreshing_ ||
        clock_->monotonic() - claims_resolved_at_ < resolver_->refreshInterval()) {
      if (done) done();
      return;
    }
    refreshing_ = true;
    policy = policy_;
    names = claim_names_;
    request = policy_request_;
  }
  // Waits for the lookups of stale answers: this is what keeps the claims at most a refresh
  // interval behind DNS, and nobody waits for it.
  resolveNames(
      names,
      [this, policy, request, done = std::move(done)](const ResolvedNames& answers) {
        struct Done {
          const std::function<void()>& fn;
          ~Done() {
            if (fn) fn();
          }
        } done_at_end{done};
        auto claims = std::make_shared<const policy::DestinationClaims>(
            claimsFor(policy->document(), answers));
        std::string conflicts = conflictText(*claims);
        uint64_t version = 0;
        bool conflicts_changed = false;
        {
          std::lock_guard lock(mu_);
          refreshing_ = false;
          if (request != policy_request_) return;  // a newer policy has its own claims
          claims_ = claims;
          claims_resolved_at_ = clock_->monotonic();
          version = policy_version_;
          conflicts_changed = conflicts != refresh_conflicts_;
          refresh_conflicts_ = conflicts;
        }
        // Passthrough relays check their destination against the new claims: one a resource now
        // claims (its name moved to this address) ends instead of relaying its data unmasked. A
        // tcp resource's relays already open keep their connection (new ones are checked by
        // gatedUpstream()). Sessions see the same policy version and change nothing.
        updateLive(policy, version);
        if (!conflicts_changed) return;
        if (!conflicts.empty()) {
          log::error(
              "after a DNS change more than one resource claims a destination; connections "
              "to it are refused until DNS or the policy changes",
              {{"conflicts", conflicts}});
        }
      },
      Resolver::IfStale::kWait);
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

ConnectionManager::Destination ConnectionManager::redirectedResource(
    const policy::CompiledPolicy& policy, const policy::DestinationClaims& claims,
    const SocketAddress& destination) {
  policy::DestinationClaims::Lookup found = claims.find(destination.host(), destination.port());
  if (found.conflict != nullptr) return {nullptr, found.conflict->message()};
  if (found.claim != nullptr) return {policy.resource(found.claim->resource), ""};
  return {};
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
    if (client_ca_) {
      auto ca = client_ca_;
      sc.client_tls = [ca](const std::string& name) { return ca->serverContextFor(name); };
    }
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
  std::shared_ptr<const policy::DestinationClaims> claims;
  {
    std::lock_guard lock(mu_);
    claims = claims_;
  }
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
  std::shared_ptr<const policy::DestinationClaims> claims;
  {
    std::lock_guard lock(mu_);
    claims = claims_;
  }
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
