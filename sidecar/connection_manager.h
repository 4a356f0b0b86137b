// Routes accepted connections: maps each destination to a policy resource, applies the
// unknown-destination default, and starts the protocol session on a worker loop.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/clock.h"
#include "policy/compiled_policy.h"
#include "policy/destination_claims.h"
#include "policy/sql/analyzer.h"
#include "sidecar/access.h"
#include "sidecar/config.h"
#include "sidecar/credentials.h"
#include "sidecar/events/event_sink.h"
#include "sidecar/network/listener.h"
#include "sidecar/network/resolver.h"
#include "sidecar/network/worker.h"
#include "sidecar/postgres/cancel_registry.h"
#include "sidecar/postgres/scram.h"
#include "sidecar/postgres/type_catalog_cache.h"
#include "sidecar/stats.h"
#include "sidecar/tls/certificate_authority.h"
#include "sidecar/tls/client_context.h"

namespace tollgate::sidecar {

// The events' location.source for this sidecar: "sidecar/<instanceName | $POD_NAME | host>".
// Connected to a control plane, this is only a label (Hello.instance_id): the control plane
// stores the events under the instance it derives from the workload token.
std::string eventSource(const SidecarConfig& config);

// Owns the workers and everything sessions share. accept() runs on the main loop; sessions
// live on worker loops. Policy updates (setPolicy) apply to new connections only.
class ConnectionManager {
 public:
  // `access` decides who may open sessions (local policy or control-plane grants). `resolver`
  // (null: getaddrinfo, refreshed every config.dns_refresh_seconds) looks up upstreams and the
  // policy's names; `clock` times the startups of raw relays (sessions time theirs on the
  // steady clock, which systemClock() is). Both are for tests to replace.
  ConnectionManager(const SidecarConfig& config, SidecarStats& stats, EventSinkPtr events,
                    CredentialStorePtr credentials, AccessBrokerPtr access,
                    ResolverPtr resolver = nullptr, ClockPtr clock = systemClock());
  ~ConnectionManager();

  // Loads what the config names (client TLS CA). Starts the workers.
  absl::Status start();
  // Installs `policy` once the host names of its resources (match.hosts, upstream hosts) are
  // resolved, off the calling thread: then every address:port belongs to at most one resource
  // (policy/destination_claims.h), new connections use it, and live sessions and relays are
  // handed it (PostgresSession::updatePolicy, relayEndedBy()). A name with a fresh
  // answer (younger than the refresh interval) answers at once; a stale or new one is looked
  // up first, so that the claims are checked against what DNS says now. When two resources claim
  // one address:port (say `localhost` and `127.0.0.1`), or one claims another's upstream, the
  // policy is refused: the current one stays and `done` gets FAILED_PRECONDITION naming both
  // resources and the destination. A call whose lookups end after those of a later call that was
  // installed gets CANCELLED. `done` (nullable) runs once, in this call when no name waits for a
  // lookup (IP literals, names with addresses), else on a resolver thread; not at all once
  // drainAndStop() has stopped the resolver. Thread-safe.
  void setPolicy(policy::CompiledPolicyPtr policy, uint64_t version,
                 std::function<void(absl::Status)> done = nullptr);
  policy::CompiledPolicyPtr policy() const;
  // Thread-safe; the main loop calls it every few seconds. Once the claims are older than the
  // DNS refresh interval, resolves the policy's names again, waiting for a lookup of each
  // answer older than the interval (Resolver::IfStale::kWait), and maps destinations by the new
  // answers (an address a name no longer has stops being its resource's). A destination two
  // resources claim after a DNS change is refused (logged) until DNS or the policy changes.
  // `done` (nullable; for tests) runs once the refresh is over, or at once when none was due.
  void refreshDestinations(std::function<void()> done = nullptr);

  // Handles one accepted socket. `resource` is the explicit listener's resource, or "" for
  // the transparent listener (the destination decides).
  void accept(AcceptedSocket socket, const std::string& resource);

  // Ends every session with a FATAL "shutting down" after `grace`; returns when all are gone
  // or after grace + 2 s. Then stops the workers and the resolver.
  void drainAndStop(std::chrono::seconds grace);
  size_t activeSessions() const { return active_.load(); }
  // Connections accepted since start (any outcome).
  uint64_t acceptedConnections() const { return accepted_.load(); }

  // Thread-safe. End every session on `grant_id` (revoked or expired) / the session `id`
  // (killed by an operator) with a FATAL error naming `reason`; within one loop turn.
  void endSessionsOnGrant(const std::string& grant_id, const std::string& reason);
  void killSession(const std::string& session_id, const std::string& reason);
  // Thread-safe. Ends sessions whose client has not completed its startup (startup packet, TLS
  // handshake, upstream login) within SidecarConfig::startup_timeout_seconds, as PostgreSQL's
  // authentication_timeout does: a connection that sends nothing must not hold a descriptor and
  // a slot forever. Raw relays still waiting for their upstream's address after as long since
  // they were accepted are refused the same way (upstream_unresolved).
  void endStalledStartups();

 private:
  struct WorkerState;
  // Logs, counts and audits a refusal (rule "sidecar:<stat>", or the policy's default for an
  // unknown destination). Thread-safe.
  void recordRefusal(const AcceptedSocket& socket, const std::string& reason,
                     const std::string& stat);
  // recordRefusal(), then closes `fd`. Thread-safe (main loop or a worker).
  void refuse(int fd, const AcceptedSocket& socket, const std::string& reason,
              const std::string& stat);
  // A refusal of an explicit listener's connection, whose client is told why when it speaks
  // PostgreSQL: recorded as refuse() records it, then a session on `w` reads the client's
  // startup (an SSLRequest gets 'N', or TLS with the client CA) and answers FATAL 08004
  // "tollgate: <reason>". A client that sends nothing (a protocol whose server speaks first)
  // is closed after kRefusalWait, or the startup timeout when shorter.
  void refuseInProtocol(WorkerState& w, const AcceptedSocket& socket, const std::string& reason,
                        const std::string& stat);
  static constexpr std::chrono::seconds kRefusalWait{5};
  void startPostgres(WorkerState& w, AcceptedSocket socket, policy::CompiledPolicyPtr policy,
                     uint64_t version, const policy::Resource* resource);
  // On the worker, once the access decision is known.
  void runPostgres(WorkerState& w, const AcceptedSocket& socket, policy::CompiledPolicyPtr policy,
                   uint64_t version, const policy::Resource* resource, AccessDecision access);
  // Cancels the statement of an ended session's backend, on a connection of its own: a
  // session with no client, tracked like the others until the server closes.
  void cancelUpstream(WorkerState& w, const policy::CompiledPolicyPtr& policy,
                      const policy::Resource* resource, const postgres::CancelTarget& target);
  // Runs `fn(tracked session)` on every worker for the sessions `match` selects.
  struct Tracked;
  void endSessions(std::function<bool(const Tracked&)> match, const std::string& reason);
  // Hands (policy, version) to every live session and relay, on its worker: sessions adopt a
  // newer version; relays check their destination against the current claims.
  void updateLive(const policy::CompiledPolicyPtr& policy, uint64_t version);
  // Runs `task` on every worker's loop, with its state. Thread-safe (under workers_mu_).
  void postToWorkers(std::function<void(WorkerState&)> task);
  // Resolves the upstream (host:port; never on the calling loop), then relays on `w`. Until
  // the address is known the client is held (tracked as a PendingRelay, subject to the startup
  // timeout); an answer that comes after the relay was refused does nothing.
  struct PendingRelay;
  void startRelay(WorkerState& w, const AcceptedSocket& socket, const std::string& resource,
                  const std::string& host, int port, uint64_t version);
  void runRelay(WorkerState& w, const AcceptedSocket& socket, const std::string& resource,
                absl::StatusOr<AddressList> upstream, uint64_t version);
  // On `w`, once startRelay()'s lookup answered: relays, unless the connection was refused
  // meanwhile.
  void endPending(WorkerState& w, const std::shared_ptr<PendingRelay>& pending,
                  absl::StatusOr<AddressList> upstream);
  // Every answer for the names of a policy, by name in lower case.
  using ResolvedNames = absl::flat_hash_map<std::string, absl::StatusOr<AddressList>>;
  // Resolves all of `names` at once and calls `done` with every answer, in this call when none
  // needs a lookup, else on a resolver thread. `if_stale` as Resolver::resolve().
  void resolveNames(const std::vector<std::string>& names, std::function<void(ResolvedNames)> done,
                    Resolver::IfStale if_stale = Resolver::IfStale::kAnswer);
  // The second half of setPolicy(), once `answers` are in.
  absl::Status install(const policy::CompiledPolicyPtr& policy, uint64_t version, uint64_t request,
                       std::vector<std::string> names, const ResolvedNames& answers);
  // A policy update that came between accept() (which read policy `version`) and the
  // registration of `tracked` found nothing to hand itself to: hands it the current one.
  void catchUp(const Tracked& tracked, uint64_t version);
  // Why a raw relay started under an older policy must end under `policy` ("" when it may go
  // on): a resource relay once its resource is gone or no longer protocol tcp; a passthrough
  // relay once a resource claims its destination or unknown destinations are denied.
  std::string relayEndedBy(const policy::CompiledPolicy& policy, const std::string& resource,
                           const SocketAddress& destination) const;
  // Why a tcp resource's relay may not go to `upstream` ("" when it may): one of the addresses
  // its name resolves to now is claimed by a gated (non-tcp) resource, alone or with others, or
  // is the unspecified address (which reaches this host's own servers). Its
  // name moved onto a gated server after the policy was checked (the claims follow DNS), and a
  // raw relay there would pass that server's data unmasked.
  std::string gatedUpstream(const std::string& resource, const AddressList& upstream) const;
  // An EVENT_CONNECTION_REFUSED of this sidecar's identity, now, decided by `rule`.
  v1::AuditEvent refusalEvent(const std::string& detail, const std::string& rule) const;
  // The connections refused for the audit backlog after the first one recorded
  // (backlog_refusals_), as one event; then the count starts again. Thread-safe.
  void recordBacklogRefusals();
  // Drops a finished session or relay from its worker (on that worker's thread).
  void forget(WorkerState& w, void* key);
  absl::StatusOr<tls::ClientContextPtr> upstreamTls(const policy::Resource& resource);
  // The destination claims in force now. Thread-safe.
  std::shared_ptr<const policy::DestinationClaims> currentClaims() const;
  // What sessions offer a client asking for TLS: certificates minted by the client CA, or
  // nothing (SSLRequest declined) without one.
  std::function<absl::StatusOr<tls::ServerContextPtr>(const std::string& name)> clientTls() const;

  const SidecarConfig& config_;
  SidecarStats& stats_;
  EventSinkPtr events_;
  CredentialStorePtr credentials_;
  AccessBrokerPtr access_;
  policy::SqlAnalyzer analyzer_;
  postgres::CancelRegistry cancels_;
  // Catalog reads shared by sessions for this long (type_catalog_cache.h).
  postgres::TypeCatalogCache type_catalogs_{std::chrono::seconds(30)};
  postgres::ScramKeyCache scram_keys_;
  tls::CertificateAuthorityPtr client_ca_;
  std::string source_;
  std::vector<std::unique_ptr<WorkerState>> workers_;
  std::vector<std::unique_ptr<WorkerState>> retired_workers_;  // see drainAndStop()
  // Held by postToWorkers(), which other threads call, and by drainAndStop() while it stops
  // and clears the workers.
  std::mutex workers_mu_;
  std::atomic<uint64_t> backlog_refusals_{0};  // see recordBacklogRefusals()
  size_t next_worker_ = 0;
  std::atomic<size_t> active_{0};
  std::atomic<uint64_t> accepted_{0};
  // Resolves upstream hosts and the policy's names off the loops (shared with the sessions'
  // upstream lookups, so both see one answer per name and interval).
  ResolverPtr resolver_;
  ClockPtr clock_;
  std::atomic<uint64_t> policy_requests_{0};  // setPolicy() calls so far
  mutable std::mutex mu_;
  policy::CompiledPolicyPtr policy_;
  uint64_t policy_version_ = 0;
  uint64_t policy_request_ = 0;  // the setPolicy() call that installed policy_
  // Which resource each address:port belongs to under policy_, by the answers of
  // claims_resolved_at_ for claim_names_ (the names policy_'s claims depend on).
  std::shared_ptr<const policy::DestinationClaims> claims_ =
      std::make_shared<policy::DestinationClaims>();
  std::vector<std::string> claim_names_;
  std::chrono::steady_clock::time_point claims_resolved_at_{};
  bool refreshing_ = false;        // a refreshDestinations() lookup is in flight
  std::string refresh_conflicts_;  // what the last refresh logged
  // What a redirected connection to `destination` is: `resource`'s, or refused because more
  // than one resource claims it (`conflict` says which), or nobody's (both empty).
  struct Destination {
    const policy::Resource* resource = nullptr;
    std::string conflict;
  };
  static Destination redirectedResource(const policy::CompiledPolicy& policy,
                                        const policy::DestinationClaims& claims,
                                        const SocketAddress& destination);
  std::unordered_map<std::string, tls::ClientContextPtr> tls_contexts_;  // by resource
};

}  // namespace tollgate::sidecar
