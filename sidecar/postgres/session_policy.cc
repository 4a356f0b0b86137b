// PostgreSQL session: adopting a newer policy while the session runs (a reload of the policy
// file, a PolicyUpdate from the control plane), so that a rule tightened by the security team
// reaches the jobs already connected, not only the next ones.
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {

void PostgresSession::updatePolicy(SessionPolicyUpdate update) {
  if (state_ == State::kCancelling || state_ == State::kDraining || state_ == State::kClosing ||
      !update.policy) {
    return;
  }
  // Losing access ends the session at once, as a revoked grant does.
  if (endBy(update)) return;
  // One not adopted yet is replaced: only the newest matters.
  pending_policy_ = std::move(update);
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
  } else if (state_ == State::kReady && catalog_ == nullptr) {
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

bool PostgresSession::adoptPolicy() {
  SessionPolicyUpdate update = std::move(*pending_policy_);
  pending_policy_.reset();
  // The same version again (the control plane's snapshot after a reconnect) changes nothing.
  if (update.policy == config_.policy || update.version == config_.policy_version) return true;
  // Logged in since the update came: the masking check could not be made then.
  if (endBy(update)) return false;
  const std::string resource_name = config_.resource->name;  // points into the old policy
  const std::string version = std::to_string(update.version);

  // What the client was told of each described statement and portal, under the old policy.
  absl::flat_hash_map<const void*, std::vector<uint16_t>> old_text_columns;
  for (const auto& [name, entry] : names_.statements()) {
    if (!entry->description.empty()) {
      old_text_columns[entry.get()] = textColumnsOf(entry->description, resolve(entry->source));
    }
  }
  for (const auto& [name, entry] : names_.portals()) {
    if (!entry->description.empty()) {
      old_text_columns[entry.get()] = textColumnsOf(entry->description, resolve(entry->source));
    }
  }

  config_.resource = update.policy->resource(resource_name);
  config_.masker = update.policy->masker(resource_name);
  config_.policy = std::move(update.policy);
  config_.policy_version = update.version;
  config_.audit_sync = config_.policy->defaults().audit == policy::AuditMode::kSync;
  if (update.access) {
    config_.role = update.access->role;
    config_.access_rule = update.access->access_rule;
  }
  event_template_.reset();  // it carries the policy version
  // Nothing streams now (nothing is in flight); plans of the old masker must not be reused.
  result_.reset();
  result_owner_ = nullptr;
  result_description_.clear();
  copy_masker_.reset();
  // The catalog's field rules point into the masker they were bound to.
  if (catalog_ != nullptr) {
    if (config_.masker) {
      catalog_->bindRules(*config_.masker);
    } else {
      catalog_.reset();
    }
  }
  redecideNames(old_text_columns);
  log::info("session adopted a policy update",
            {{"session", id_},
             {"policy_version", version},
             {"role", std::string(policy::roleName(config_.role))}});
  return true;
}

void PostgresSession::redecideNames(
    const absl::flat_hash_map<const void*, std::vector<uint16_t>>& old_text_columns) {
  const std::string under = "policy version " + std::to_string(config_.policy_version);
  auto stale = [&](const void* entry, const std::string& description, const StatementRef& source,
                   const std::string& what) -> std::optional<Refusal> {
    auto it = old_text_columns.find(entry);
    if (it == old_text_columns.end() || textColumnsOf(description, source) == it->second) {
      return std::nullopt;
    }
    // What PostgreSQL answers when a table changed under a prepared statement: drivers that
    // cache descriptions (asyncpg, pgjdbc) prepare the statement again on it.
    return Refusal{"policy:update",
                   "cached plan must not change result type: " + under + " masks the columns of " +
                       what + " otherwise than when it was described; describe or prepare it again",
                   std::string(kSqlStateFeatureNotSupported), "RevalidateCachedQuery"};
  };
  for (const auto& [name, entry] : names_.statements()) {
    const StatementRef& source = entry->source;
    if (const policy::StatementFacts* st = source.statement(); st != nullptr) {
      // The statement alone (a PREPARE may share its Query with others), decided as new.
      policy::Verdict v;
      if (source.facts->statements.size() == 1) {
        v = decideByPolicy(*source.facts);
      } else {
        policy::QueryFacts one = *source.facts;
        one.statements = {*st};
        v = decideByPolicy(one);
      }
      if (v.decision == policy::Decision::kAllow) {
        entry->rule = v.rule;
      } else {
        entry->refusal = Refusal{v.rule,
                                 v.message + " (decided again under " + under +
                                     "; the statement was prepared under an earlier one)",
                                 std::string(kSqlStateInsufficientPrivilege), ""};
      }
    }
    entry->stale = stale(entry.get(), entry->description, resolve(source),
                         "prepared statement \"" + name + "\"");
  }
  for (const auto& [name, entry] : names_.portals()) {
    entry->stale =
        stale(entry.get(), entry->description, resolve(entry->source), "portal \"" + name + "\"");
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

const Refusal* PostgresSession::executeRefusal(const NamedPortal* portal,
                                               const NamedStatement* statement) const {
  if (portal == nullptr || portal->cursor) return nullptr;
  if (statement != nullptr && statement->refusal) return &*statement->refusal;
  // The description the client decodes the rows by: the portal's own, else its statement's.
  if (!portal->description.empty() || portal->no_data) {
    return portal->stale ? &*portal->stale : nullptr;
  }
  return statement != nullptr && statement->stale ? &*statement->stale : nullptr;
}

}  // namespace tollgate::sidecar::postgres
