// PostgreSQL session, audit events: session start and end, refusals, one per statement.
// Statements appear only in normalised form (literals replaced), error texts with digits
// scrubbed, so no card number, CVV or secret reaches the audit trail.
#include <chrono>

#include "policy/sql/facts.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

v1::Decision toProto(policy::Decision d) {
  switch (d) {
    case policy::Decision::kAllow:
      return v1::DECISION_ALLOW;
    case policy::Decision::kReview:
      return v1::DECISION_REVIEW;
    case policy::Decision::kBlock:
      return v1::DECISION_BLOCK;
  }
  return v1::DECISION_UNSPECIFIED;
}

// Error texts can quote values ("invalid input syntax for type integer: \"4111...\""): every
// run of three or more digits becomes '#', which keeps relation names and codes readable.
std::string scrubDigits(std::string_view text) {
  std::string out(text);
  size_t i = 0;
  while (i < out.size()) {
    if (out[i] < '0' || out[i] > '9') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && out[j] >= '0' && out[j] <= '9') ++j;
    if (j - i >= 3) {
      for (size_t k = i; k < j; ++k) out[k] = '#';
    }
    i = j;
  }
  return out;
}

}  // namespace

v1::AuditEvent PostgresSession::baseEvent(v1::EventType type) const {
  v1::AuditEvent e;
  static thread_local uint64_t counter = 0;
  e.set_id(id_ + "-" + std::to_string(++counter));
  e.set_type(type);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now);
  e.mutable_time()->set_seconds(secs.count());
  e.mutable_time()->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - secs).count()));
  e.set_time_source("system");
  auto* id = e.mutable_identity();
  id->set_subject(config_.identity.subject);
  id->set_namespace_(config_.identity.namespace_name);
  id->set_service_account(config_.identity.service_account);
  id->set_principal_id(config_.identity.subject);
  id->set_kind(v1::Identity::KIND_WORKLOAD);
  for (const auto& g : config_.identity.groups) id->add_groups(g);
  auto* loc = e.mutable_location();
  loc->set_resource(config_.resource->name);
  loc->set_protocol("postgres");
  loc->set_upstream(config_.upstream_address.toString());
  loc->set_client_addr(config_.client_address);
  loc->set_source(config_.source);
  loc->set_session_id(id_);
  e.mutable_reason()->set_policy_version(config_.policy_version);
  if (!config_.grant_id.empty()) e.mutable_reason()->set_grant_id(config_.grant_id);
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
      (upstream_.tlsActive() ? " upstream_tls=" + upstream_.tlsVersion() : " upstream_tls=off"));
  e.mutable_result()->set_success(true);
  e.mutable_reason()->set_decision(v1::DECISION_ALLOW);
  e.mutable_reason()->add_rule_ids(config_.access_rule);
  config_.events->publish(std::move(e));
}

void PostgresSession::emitSessionEnd(std::string_view reason) {
  if (!config_.events) return;
  v1::AuditEvent e = baseEvent(v1::EVENT_SESSION_END);
  e.mutable_action()->set_detail("statements=" + std::to_string(statement_count_) + " blocked=" +
                                 std::to_string(blocked_) + " reason=" + scrubDigits(reason));
  auto* r = e.mutable_result();
  r->set_success(true);
  r->set_bytes_in(bytes_in_);
  r->set_bytes_out(bytes_out_);
  r->set_duration_us(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now() - started_)
                                               .count()));
  config_.events->publish(std::move(e));
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
  v1::AuditEvent e = baseEvent(v1::EVENT_STATEMENT);
  auto* a = e.mutable_action();
  if (st != nullptr) {
    a->set_statement(st->normalized);
    a->set_statement_class(std::string(policy::className(st->cls)));
    a->set_statement_type(st->type);
    a->set_fingerprint(st->fingerprint);
    for (const auto& r : st->reads) a->add_objects(r);
    for (const auto& w : st->writes) a->add_objects(w);
  } else if (unit.facts && !unit.facts->parsed) {
    a->set_detail("statement did not parse: " + scrubDigits(unit.facts->error));
  } else if (unit.kind == PendingUnit::Kind::kFunctionCall) {
    a->set_detail("fast-path function call");
  }
  auto* r = e.mutable_result();
  r->set_success(success);
  r->set_rows(rows);
  r->set_values_masked(unit.values_masked);
  uint64_t now = nowUs();
  r->set_duration_us(now > unit.started_us ? now - unit.started_us : 0);
  if (!error_code.empty()) r->set_error_code(std::string(error_code));
  auto* why = e.mutable_reason();
  if (!unit.approval_id.empty()) {
    // Held for review: the record says so, whichever way the approvers went.
    decision = policy::Decision::kReview;
    why->set_approval_id(unit.approval_id);
  }
  why->set_decision(toProto(decision));
  if (!rule.empty()) why->add_rule_ids(rule);
  if (!message.empty()) {
    why->set_message(scrubDigits(message));
  } else if (!unit.approval_message.empty()) {
    why->set_message(scrubDigits(unit.approval_message));
  }
  config_.events->publish(std::move(e));
}

}  // namespace tollgate::sidecar::postgres
