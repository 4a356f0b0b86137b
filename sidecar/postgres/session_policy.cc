// PostgreSQL session: adopting a newer policy while the session runs (a reload of the policy
// file, a PolicyUpdate from the control plane), so that a rule tightened by the security team
// reaches the jobs already connected, not only the next ones.
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {

namespace {

// How long masking of an older policy may stay in force because the client never lets its
// pipeline drain; a statement sent after that ends the session.
constexpr std::chrono::seconds kMaskingSwapLimit(30);

}  // namespace

void PostgresSession::updatePolicy(SessionPolicyUpdate update) {
  // A session delivering its last answers (the job half-closed or sent Terminate) still
  // follows: losing access ends it, and results in flight are masked as in kReady.
  if (state_ == State::kCancelling || (state_ == State::kDraining && !drain_delivers_) ||
      state_ == State::kClosing || !update.policy) {
    return;
  }
  // The same version again (the control plane's snapshot after a reconnect) changes nothing.
  if (update.policy == config_.policy || update.version == config_.policy_version) return;
  // Losing access ends the session at once, as a revoked grant does.
  if (endBy(update)) return;
  adoptDecisions(update);
  // Masking of results waits for a moment with nothing in flight: at once before login (the
  // catalog is then read for the new masker), after the catalog read otherwise.
  if (beforeLogin() || (state_ == State::kReady && pipeline_.empty())) adoptMasking();
}

bool PostgresSession::refusedAgain(const policy::Verdict& verdict, bool approved) {
  return verdict.decision == policy::Decision::kBlock ||
         (verdict.decision == policy::Decision::kReview && !approved);
}

bool PostgresSession::endBy(const SessionPolicyUpdate& update) {
  const std::string& name = config_.resource->name;
  std::string why;
  const policy::Resource* resource = update.policy->resource(name);
  if (resource == nullptr || resource->protocol != policy::Protocol::kPostgres) {
    why = "resource " + name + " is no longer in the policy";
  } else if (update.access && !update.access->allowed) {
    why = update.access->refuse_reason;
    if (why.rfind("tollgate: ", 0) == 0) why.erase(0, 10);
  } else if (update.access && update.access->role != config_.role) {
    // The server session was opened for the old role (a read role's is read-only there too).
    why = "access rule " + update.access->access_rule + " now gives role " +
          std::string(policy::roleName(update.access->role)) + " instead of " +
          std::string(policy::roleName(config_.role)) + "; connect again";
  } else if (catalog_ == nullptr && !beforeLogin()) {
    // Masking needs the database's types, which are read at login only.
    policy::MaskerPtr masker = update.policy->masker(name);
    if (masker && (masker->hasColumnRules() || masker->hasDetectorRules())) {
      why = "the policy now masks resource " + name +
            ", and this session logged in without masking; connect again";
    }
  }
  if (why.empty()) return false;
  const std::string version = std::to_string(update.version);
  log::info("session ended by a policy update",
            {{"session", id_}, {"policy_version", version}, {"reason", why}});
  terminate(why + " (policy version " + version + ")");
  return true;
}

void PostgresSession::adoptDecisions(const SessionPolicyUpdate& update) {
  // The masker (and the catalog's bindings) may point into the policy it came from: it stays
  // alive until adoptMasking().
  if (!masking_owner_) {
    masking_owner_ = config_.policy;
    masking_pending_since_ = std::chrono::steady_clock::now();
  }
  // Statements in flight were decided under the old version; their events say so.
  previous_event_template_ = eventTemplate();
  previous_policy_version_ = config_.policy_version;
  const std::string name = config_.resource->name;
  config_.policy = update.policy;
  config_.resource = config_.policy->resource(name);
  config_.policy_version = update.version;
  config_.audit_sync = config_.policy->defaults().audit == policy::AuditMode::kSync;
  if (update.access) config_.access_rule = update.access->access_rule;
  event_template_.reset();  // it carries the policy version and access rule
  redecideNames();
  log::info("session adopted a policy update",
            {{"session", id_}, {"policy_version", std::to_string(update.version)}});
}

void PostgresSession::adoptMasking() {
  if (!masking_owner_) return;
  config_.masker = config_.policy->masker(config_.resource->name);
  // Plans of the old masker must not be reused; nothing streams now.
  result_.reset();
  result_owner_ = nullptr;
  result_description_.clear();
  copy_masker_.reset();
  // The catalog's field rules point into the masker they were bound to. Without a masker
  // they are not needed; the catalog itself stays for a later policy that masks again.
  if (catalog_ != nullptr) {
    if (config_.masker) {
      catalog_->bindRules(*config_.masker);
    } else {
      catalog_->unbindRules();
    }
  }
  // Whether errors later in an open transaction (a block, or an extended-protocol batch's
  // implicit one before its Sync) may quote masked data was worked out for its
  // earlier statements under the old rules (what they deferred runs at a later statement or
  // COMMIT). Their facts are gone: with column rules in force now, assume they may.
  if ((txn_status_ != 'I' || implicit_transaction_ran_) && config_.masker &&
      config_.masker->hasColumnRules()) {
    transaction_may_quote_ = true;
  }
  masking_owner_.reset();
  markChangedDescriptions();
}

CallbackAction PostgresSession::followPolicy(char message_type) {
  if (!masking_owner_) return CallbackAction::kContinue;
  if (pipeline_.empty()) {
    adoptMasking();
    return CallbackAction::kContinue;
  }
  const bool statement = message_type == 'Q' || message_type == 'P' || message_type == 'B' ||
                         message_type == 'E' || message_type == 'F';
  if (statement && std::chrono::steady_clock::now() - masking_pending_since_ > kMaskingSwapLimit) {
    // A client that never lets its pipeline drain would keep the old masking for good.
    terminate("policy version " + std::to_string(config_.policy_version) +
              " changes masking, and the session sent statements for " +
              std::to_string(kMaskingSwapLimit.count()) +
              " s without waiting for the answers to take it; connect again");
    return CallbackAction::kStop;
  }
  return CallbackAction::kContinue;
}

policy::Verdict PostgresSession::decideAgain(const StatementRef& source) {
  // The statement alone (a PREPARE or DECLARE may share its Query with others), decided as new.
  const policy::StatementFacts* st = source.statement();
  if (source.facts->statements.size() == 1) return decideByPolicy(*source.facts);
  policy::QueryFacts one = *source.facts;
  one.statements = {*st};
  return decideByPolicy(one);
}

void PostgresSession::redecideNames() {
  const std::string under = "policy version " + std::to_string(config_.policy_version);
  auto refusal = [&](const policy::Verdict& v, bool approved) -> std::optional<Refusal> {
    if (!refusedAgain(v, approved)) return std::nullopt;
    return Refusal{v.rule,
                   v.message + " (decided again under " + under +
                       "; the statement was prepared under an earlier one)",
                   std::string(kSqlStateInsufficientPrivilege), ""};
  };
  for (const auto& [name, portal] : names_.reachablePortals()) {
    // A DECLAREd cursor runs the query it was declared with.
    if (portal->cursor && portal->source.statement() != nullptr) {
      portal->refusal = refusal(decideAgain(portal->source), portal->approved);
      if (!portal->refusal && tables_may_have_changed_) {
        portal->refusal = staleStoresRefusal(kCursorName, name, portal->source);
      }
    }
  }
  for (const auto& [name, entry] : names_.reachableStatements()) {
    if (entry->source.statement() == nullptr) continue;
    policy::Verdict v = decideAgain(entry->source);
    entry->refusal = refusal(v, entry->approved);
    if (!entry->refusal && tables_may_have_changed_) {
      entry->refusal = staleStoresRefusal(kStatementName, name, entry->source);
    }
    if (!entry->refusal) entry->rule = v.rule;
    entry->unannounced.reset();
    if (!entry->refusal && config_.audit_sync && !entry->audit_sync) {
      // Its Executes would run on a statement no acknowledged record announced. Answered as
      // PostgreSQL answers a plan gone stale, so drivers that cache statements (asyncpg,
      // pgjdbc) parse it again by themselves, and that Parse waits for its record.
      entry->unannounced =
          Refusal{"audit:sync",
                  "cached plan must not change result type: " + under +
                      " requires audit: sync, and prepared statement \"" + name +
                      "\" was prepared before it without an acknowledged audit record; "
                      "prepare it again",
                  std::string(kSqlStateFeatureNotSupported), "RevalidateCachedQuery"};
    }
  }
}

void PostgresSession::markChangedDescriptions() {
  const std::string under = "policy version " + std::to_string(config_.policy_version);
  auto stale = [&](const std::optional<std::vector<uint16_t>>& told, const std::string& description,
                   const StatementRef& source, const std::string& what) -> std::optional<Refusal> {
    if (!told || textColumnsOf(description, source) == *told) return std::nullopt;
    // What PostgreSQL answers when a table changed under a prepared statement: drivers that
    // cache descriptions (asyncpg's statement cache) prepare the statement again on it.
    return Refusal{"policy:update",
                   "cached plan must not change result type: " + under + " masks the columns of " +
                       what + " otherwise than when it was described; describe or prepare it again",
                   std::string(kSqlStateFeatureNotSupported), "RevalidateCachedQuery"};
  };
  for (const auto& [name, entry] : names_.reachableStatements()) {
    entry->stale = stale(entry->told_text_columns, entry->description, resolve(entry->source),
                         "prepared statement \"" + name + "\"");
  }
  for (const auto& [name, portal] : names_.reachablePortals()) {
    portal->stale = stale(portal->told_text_columns, portal->description, resolve(portal->source),
                          "portal \"" + name + "\"");
  }
}

std::vector<uint16_t> PostgresSession::textColumnsOf(const std::string& raw_description,
                                                     const StatementRef& source) const {
  if (raw_description.size() < kHeaderSize) return {};
  auto body = parseBackendBody('T', std::string_view(raw_description).substr(kHeaderSize));
  if (!body.ok() || !std::holds_alternative<RowDescription>(*body)) return {};
  static const std::vector<int16_t> kNoFormats;
  ResultMasker plan(config_.masker.get(), std::get<RowDescription>(*body), kNoFormats, true,
                    source.lineage(), catalog_.get());
  return plan.textColumns();
}

}  // namespace tollgate::sidecar::postgres
