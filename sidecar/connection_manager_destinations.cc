// Connection manager: installing policies once their names are resolved, the destinations
// they claim (kept up with DNS), and which resource a redirected connection is.
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/log.h"
#include "sidecar/connection_manager.h"
#include "sidecar/connection_manager_internal.h"

namespace tollgate::sidecar {
namespace {

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

ConnectionManager::Destination ConnectionManager::redirectedResource(
    const policy::CompiledPolicy& policy, const policy::DestinationClaims& claims,
    const SocketAddress& destination) {
  policy::DestinationClaims::Lookup found = claims.find(destination.host(), destination.port());
  if (found.conflict != nullptr) return {nullptr, found.conflict->message()};
  if (found.claim != nullptr) return {policy.resource(found.claim->resource), ""};
  return {};
}

}  // namespace tollgate::sidecar
