// PostgreSQL session, audit events: session start and end, refusals, one per statement.
// Statements appear only in normalised form (literals replaced), error texts with digits
// scrubbed, so no card number, CVV or secret reaches the audit trail. Statement events are
// captured as records and built on the sink's thread (statement_event.h).
#include <algorithm>
#include <chrono>

#include "policy/sql/facts.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/session.h"
#include "sidecar/postgres/statement_event.h"

namespace tollgate::sidecar::postgres {
namespace {

// Event ids are "<session id>-<n>", n counting per worker thread.
uint64_t nextEventNumber() {
  static thread_local uint64_t counter = 0;
  return ++counter;
}

int64_t systemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::shared_ptr<const v1::AuditEvent> PostgresSession::eventTemplate() const {
  if (event_template_) return event_template_;
  auto e = std::make_shared<v1::AuditEvent>();
  auto* id = e->mutable_identity();
  id->set_subject(config_.identity.subject);
  id->set_namespace_(config_.identity.namespace_name);
  id->set_service_account(config_.identity.service_account);
  id->set_principal_id(config_.identity.subject);
  id->set_kind(v1::Identity::KIND_WORKLOAD);
  for (const auto& g : config_.identity.groups) id->add_groups(g);
  auto* loc = e->mutable_location();
  loc->set_resource(config_.resource->name);
  loc->set_protocol("postgres");
  // Before the upstream's name is resolved (a refusal), the name.
  loc->set_upstream(config_.upstream_address.family() != AF_UNSPEC
                        ? config_.upstream_address.toString()
                        : config_.resource->upstream.host + ":" +
                              std::to_string(config_.resource->upstream.port));
  loc->set_client_addr(config_.client_address);
  loc->set_source(config_.source);
  loc->set_session_id(id_);
  e->mutable_reason()->set_policy_version(config_.policy_version);
  if (!config_.grant_id.empty()) e->mutable_reason()->set_grant_id(config_.grant_id);
  event_template_ = std::move(e);
  return event_template_;
}

v1::AuditEvent PostgresSession::baseEvent(v1::EventType type) const {
  v1::AuditEvent e(*eventTemplate());
  e.set_id(id_ + "-" + std::to_string(nextEventNumber()));
  e.set_type(type);
  int64_t now = systemNowNs();
  e.mutable_time()->set_seconds(now / 1000000000);
  e.mutable_time()->set_nanos(static_cast<int32_t>(now % 1000000000));
  e.set_time_source("system");
  return e;
}

void PostgresSession::emitSessionStart() {
  if (started_event_ || !config_.events) return;
  started_event_ = true;
  v1::AuditEvent e = baseEvent(v1::EVENT_SESSION_START);
  e.mutable_action()->set_detail(
      "database=" + scrubDigits(database_) + " upstream_user=" + credential_->username +
      " client_user=" + scrubDigits(client_user_) +
      (client_.tlsActive() ? " client_tls=on" : " client_tls=off") +
      (upstream_.tlsActive() ? " upstream_tls=" + upstream_.tlsVersion() : " upstream_tls=off") +
      (startup_settings_.empty() ? "" : " settings=" + scrubDigits(startup_settings_)));
  e.mutable_result()->set_success(true);
  e.mutable_reason()->set_decision(v1::DECISION_ALLOW);
  e.mutable_reason()->add_rule_ids(config_.access_rule);
  config_.events->publish(std::move(e));
}

bool PostgresSession::awaitsAnswer(const PendingUnit& unit) {
  // A refused statement (poisoned) has its event already.
  return !unit.poisoned && unit.facts &&
         (unit.kind == PendingUnit::Kind::kQuery || unit.kind == PendingUnit::Kind::kExecute);
}

bool PostgresSession::anyAwaitingOutcome() {
  bool any = false;
  pipeline_.forEach([&](const PendingUnit& unit) {
    if (any || !awaitsAnswer(unit)) return;
    const auto& statements = unit.facts->statements;
    const size_t end = unit.kind == PendingUnit::Kind::kQuery
                           ? statements.size()
                           : std::min(statements.size(), unit.statement_index + 1);
    for (size_t i = unit.statement_index; i < end && !any; ++i) {
      any = statements[i].cls != policy::StatementClass::kRead;
    }
  });
  return any;
}

void PostgresSession::emitUnanswered() {
  // Sent to the server, never answered (the job hung up or the session ended first): each may
  // have run, so each gets its event, never silence.
  static const std::string kMessage =
      "the session ended before the server answered; the statement may have run";
  pipeline_.forEach([&](const PendingUnit& unit) {
    if (!awaitsAnswer(unit)) return;
    const auto& statements = unit.facts->statements;
    if (unit.kind == PendingUnit::Kind::kQuery) {
      for (size_t i = unit.statement_index; i < statements.size(); ++i) {
        emitStatement(&statements[i], unit, false, i == unit.statement_index ? unit.rows : 0,
                      kSqlStateConnectionFailure, policy::Decision::kAllow, unit.rule, kMessage);
      }
    } else if (unit.kind == PendingUnit::Kind::kExecute) {
      const policy::StatementFacts* st =
          unit.statement_index < statements.size() ? &statements[unit.statement_index] : nullptr;
      emitStatement(st, unit, false, unit.rows, kSqlStateConnectionFailure,
                    policy::Decision::kAllow, unit.rule, kMessage);
    }
  });
}

void PostgresSession::emitSessionEnd(std::string_view reason) {
  if (!config_.events) return;
  emitUnanswered();
  emitBacklogRefusals();
  v1::AuditEvent e = baseEvent(v1::EVENT_SESSION_END);
  e.mutable_action()->set_detail("statements=" + std::to_string(statement_count_) +
                                 " blocked=" + std::to_string(blocked_) +
                                 (uncommitted_changes_ ? " uncommitted_changes=rolled_back" : "") +
                                 " reason=" + scrubDigits(reason));
  auto* r = e.mutable_result();
  r->set_success(true);
  r->set_bytes_in(bytes_in_);
  r->set_bytes_out(bytes_out_);
  r->set_duration_us(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now() - started_)
                                               .count()));
  config_.events->publish(std::move(e));
}

void PostgresSession::noteBatchChange(const policy::StatementFacts& st, bool success,
                                      bool own_transaction) {
  if (own_transaction && (st.type == "call" || st.type == "do")) {
    // A procedure, even one that failed, may have committed or rolled back what came before
    // it and part of its own work.
    batch_before_procedure_ += batch_changes_;
    batch_changes_ = 0;
    batch_procedure_ = true;
    return;
  }
  if (!success) return;
  if (st.type == "commit" || st.type == "rollback" || st.type == "prepare_transaction") {
    // What came before has its outcome in this statement's event.
    batch_changes_ = batch_before_procedure_ = 0;
    batch_procedure_ = false;
  } else if (st.cls != policy::StatementClass::kRead &&
             st.cls != policy::StatementClass::kTransaction) {
    ++batch_changes_;
  }
}

void PostgresSession::settleBatch() {
  const bool failed = !batch_error_code_.empty();
  if (txn_status_ == 'I') {
    auto changes = [](uint64_t n) { return std::to_string(n) + " change" + (n == 1 ? "" : "s"); };
    if (failed && batch_changes_ > 0) {
      emitBatchOutcome("implicit_rollback",
                       "an error (SQLSTATE " + batch_error_code_ +
                           ") ended the implicit transaction; the server rolled back the " +
                           changes(batch_changes_) +
                           " made in it, whose statements were reported successful");
    }
    if (batch_procedure_ && failed) {
      emitBatchOutcome("outcome_unknown",
                       "a procedure (CALL or DO) in the implicit transaction may have committed "
                       "before the error (SQLSTATE " +
                           batch_error_code_ + ") that ended it: whether its changes" +
                           (batch_before_procedure_ > 0
                                ? " and the " + changes(batch_before_procedure_) + " before it"
                                : std::string()) +
                           " stayed is unknown");
    } else if (batch_procedure_ && batch_before_procedure_ > 0) {
      emitBatchOutcome("outcome_unknown",
                       "a procedure (CALL or DO) in the implicit transaction may have rolled "
                       "back the " +
                           changes(batch_before_procedure_) +
                           " made before it: whether they stayed is unknown");
    }
  }
  batch_changes_ = batch_before_procedure_ = 0;
  batch_procedure_ = false;
  batch_error_code_.clear();
}

void PostgresSession::emitBatchOutcome(std::string_view type, const std::string& detail) {
  if (!config_.events) return;
  v1::AuditEvent e = baseEvent(v1::EVENT_STATEMENT);
  auto* a = e.mutable_action();
  a->set_statement_class("transaction");
  a->set_statement_type(std::string(type));
  a->set_detail(detail);
  e.mutable_result()->set_success(true);
  e.mutable_reason()->set_decision(v1::DECISION_ALLOW);
  config_.events->publish(std::move(e));
}

void PostgresSession::emitBacklogRefusals() {
  if (backlog_refusals_ > 1 && config_.events) {
    const uint64_t more = backlog_refusals_ - 1;
    v1::AuditEvent e = baseEvent(v1::EVENT_STATEMENT);
    e.mutable_action()->set_detail(
        std::to_string(more) + " more statement" + (more == 1 ? "" : "s") +
        " refused by rule \"audit:backlog\" while the audit spool was full, recorded as this "
        "one event");
    e.mutable_result()->set_success(false);
    e.mutable_result()->set_error_code(std::string(kSqlStateInsufficientPrivilege));
    e.mutable_reason()->set_decision(v1::DECISION_BLOCK);
    e.mutable_reason()->add_rule_ids(kAuditBacklogRule);
    config_.events->publish(std::move(e));
  }
  backlog_refusals_ = 0;
}

void PostgresSession::emitRefused(const std::string& reason) {
  if (!config_.events) return;
  v1::AuditEvent e = baseEvent(v1::EVENT_CONNECTION_REFUSED);
  e.mutable_action()->set_detail(scrubDigits(reason));
  e.mutable_result()->set_success(false);
  e.mutable_reason()->set_decision(v1::DECISION_BLOCK);
  config_.events->publish(std::move(e));
}

void PostgresSession::emitStatement(const policy::StatementFacts* st, const PendingUnit& unit,
                                    bool success, uint64_t rows, std::string_view error_code,
                                    policy::Decision decision, const std::string& rule,
                                    const std::string& message) {
  if (!config_.events) return;
  // Past the spool's limit every refused statement would add to the spool it cannot drain (a
  // job retrying in a loop would fill the disk, then memory): the first refusal is recorded,
  // the rest counted into one event when the session next records something or ends.
  if (rule == kAuditBacklogRule) {
    if (backlog_refusals_++ > 0) return;
  } else if (backlog_refusals_ > 0) {
    emitBacklogRefusals();
  }
  // Captured here, built on the sink's thread (statement_event.h).
  StatementRecord r;
  // A statement decided before a policy update is recorded under the version that decided it.
  r.session = previous_event_template_ && unit.policy_version == previous_policy_version_
                  ? previous_event_template_
                  : eventTemplate();
  r.number = nextEventNumber();
  r.time_ns = systemNowNs();
  r.facts = unit.facts;
  if (st != nullptr) {
    const policy::StatementFacts* first = unit.facts ? unit.facts->statements.data() : nullptr;
    size_t count = unit.facts ? unit.facts->statements.size() : 0;
    if (count > 0 && st >= first && st < first + count) {
      r.statement = static_cast<int>(st - first);
    } else {
      // Not part of the unit's facts (no caller does this): keep the statement's own facts.
      auto own = std::make_shared<policy::QueryFacts>();
      own->statements.push_back(*st);
      r.facts = std::move(own);
      r.statement = 0;
    }
  }
  r.function_call = unit.kind == PendingUnit::Kind::kFunctionCall;
  if (r.function_call) r.function_oid = unit.name;
  r.success = success;
  r.rows = rows;
  r.values_masked = unit.values_masked;
  uint64_t now = nowUs();
  r.duration_us = now > unit.started_us ? now - unit.started_us : 0;
  r.error_code = std::string(error_code);
  r.decision = decision;
  r.rule = rule;
  r.approval_id = unit.approval_id;
  r.message = message;
  r.approval_message = unit.approval_message;
  config_.events->publishDeferred(std::make_unique<StatementEvent>(std::move(r)));
}

}  // namespace tollgate::sidecar::postgres
