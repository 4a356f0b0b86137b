// Statement audit events: from a captured record to the v1::AuditEvent the sink writes.
#include "sidecar/postgres/statement_event.h"

#include <charconv>

#include "policy/decision_proto.h"
#include "policy/mask/masker.h"

namespace tollgate::sidecar::postgres {

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

// At most the built event's size (its fields with their values, without the framing): the
// control-plane client's backlog limit then refuses statements only once the spool really
// holds that much. An estimate above it would turn the refusals on at enqueue and off again at
// the writer's next pass.
size_t StatementEvent::sizeHint() const {
  const StatementRecord& r = record_;
  size_t bytes = (r.session ? r.session->ByteSizeLong() : 0) + r.error_code.size() + r.rule.size() +
                 r.approval_id.size() + r.message.size() + r.approval_message.size();
  if (r.facts && r.statement >= 0 &&
      static_cast<size_t>(r.statement) < r.facts->statements.size()) {
    const policy::StatementFacts& st = r.facts->statements[static_cast<size_t>(r.statement)];
    bytes += st.normalized.size() + st.type.size() + st.fingerprint.size();
    for (const auto& t : st.reads) bytes += t.size();
    for (const auto& t : st.writes) bytes += t.size();
  } else if (r.facts) {
    bytes += r.facts->error.size();
  }
  return bytes;
}

void buildStatementEvent(const StatementRecord& r, v1::AuditEvent& e) {
  // Every sub-message is set: identity, location and reason by the session template, the
  // others below (DeferredEvent::build: `e` may be a reused message with empty ones present).
  if (r.session) {
    e.MergeFrom(*r.session);
  } else {
    e.clear_identity();
    e.clear_location();
  }
  std::string* id = e.mutable_id();  // built in place: a reused event keeps the buffer
  *id = e.location().session_id();
  id->push_back('-');
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof(digits), r.number).ptr;
  id->append(digits, static_cast<size_t>(end - digits));
  e.set_type(v1::EVENT_STATEMENT);
  e.mutable_time()->set_seconds(r.time_ns / 1000000000);
  e.mutable_time()->set_nanos(static_cast<int32_t>(r.time_ns % 1000000000));
  e.set_time_source("system");
  auto* a = e.mutable_action();
  const policy::StatementFacts* st =
      r.facts && r.statement >= 0 && static_cast<size_t>(r.statement) < r.facts->statements.size()
          ? &r.facts->statements[static_cast<size_t>(r.statement)]
          : nullptr;
  if (st != nullptr) {
    a->set_statement(st->normalized);
    a->set_statement_class(std::string(policy::className(st->cls)));
    a->set_statement_type(st->type);
    a->set_fingerprint(st->fingerprint);
    // Relation names are identifiers the job chose: a card number in one is masked too.
    for (const auto& t : st->reads) a->add_objects(policy::scrubPansForRecords(t));
    for (const auto& t : st->writes) a->add_objects(policy::scrubPansForRecords(t));
  } else if (r.facts && !r.facts->parsed) {
    a->set_detail("statement did not parse: " + scrubDigits(r.facts->error));
  } else if (r.function_call) {
    a->set_detail("fast-path function call, function oid " + r.function_oid);
  }
  auto* res = e.mutable_result();
  res->set_success(r.success);
  res->set_rows(r.rows);
  res->set_values_masked(r.values_masked);
  res->set_duration_us(r.duration_us);
  if (!r.error_code.empty()) res->set_error_code(r.error_code);
  auto* why = e.mutable_reason();
  policy::Decision decision = r.decision;
  if (!r.approval_id.empty()) {
    // Held for review: the record says so, whichever way the approvers went.
    decision = policy::Decision::kReview;
    why->set_approval_id(r.approval_id);
  }
  why->set_decision(policy::toProtoDecision(decision));
  if (!r.rule.empty()) why->add_rule_ids(r.rule);
  if (!r.message.empty()) {
    why->set_message(scrubDigits(r.message));
  } else if (!r.approval_message.empty()) {
    why->set_message(scrubDigits(r.approval_message));
  }
}

}  // namespace tollgate::sidecar::postgres
