// The audit event of one statement, captured on the worker and built on the sink's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "policy/engine.h"
#include "policy/sql/facts.h"
#include "sidecar/events/deferred_event.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::sidecar::postgres {

// Error texts can quote values ("invalid input syntax for type integer: \"4111...\""): every
// run of three or more digits becomes '#', which keeps relation names and codes readable.
std::string scrubDigits(std::string_view text);

// Everything a statement event says, held as values and shared pointers so that the record
// can be built on another thread after the session moved on (or ended).
struct StatementRecord {
  // The session's part of every event: identity, location, policy version, grant. Immutable.
  std::shared_ptr<const v1::AuditEvent> session;
  uint64_t number = 0;  // event id is "<session id>-<number>"
  int64_t time_ns = 0;  // system clock, when the statement finished or was refused
  // The analysed query (kept alive here) and the index of the statement the event is about
  // (-1: none, e.g. a fast-path call or a text that did not parse).
  policy::QueryFactsPtr facts;
  int statement = -1;
  bool function_call = false;
  std::string function_oid;  // of a fast-path function call, decimal
  bool success = false;
  uint64_t rows = 0;
  uint64_t values_masked = 0;
  uint64_t duration_us = 0;
  std::string error_code;
  policy::Decision decision = policy::Decision::kAllow;
  std::string rule;
  std::string approval_id;
  std::string message;  // raw; digits are scrubbed when the event is built
  std::string approval_message;
};

// Fills `event` (empty on entry) from `record`: the exact event the session used to build
// inline, literal-free statement text and digit-scrubbed messages included.
void buildStatementEvent(const StatementRecord& record, v1::AuditEvent& event);

class StatementEvent final : public DeferredEvent {
 public:
  explicit StatementEvent(StatementRecord record) : record_(std::move(record)) {}
  void build(v1::AuditEvent& event) override { buildStatementEvent(record_, event); }
  size_t sizeHint() const override;

 private:
  StatementRecord record_;
};

}  // namespace tollgate::sidecar::postgres
