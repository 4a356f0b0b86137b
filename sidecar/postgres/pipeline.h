// Matches server responses to the client messages that caused them, so a pipelined session
// knows which statement a DataRow, CommandComplete or ErrorResponse belongs to.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "policy/sql/facts.h"
#include "sidecar/postgres/name_table.h"

namespace tollgate::sidecar::postgres {

// One client message that the server will answer.
struct PendingUnit {
  enum class Kind {
    kQuery,              // 'Q': answered by results per statement, ended by ReadyForQuery
    kParse,              // 'P': ParseComplete
    kBind,               // 'B': BindComplete
    kDescribeStatement,  // 'D' S: ParameterDescription then RowDescription or NoData
    kDescribePortal,     // 'D' P: RowDescription or NoData
    kInjectedDescribe,   // a Describe portal the sidecar added itself: its answer is swallowed
    kExecute,            // 'E': DataRow* then CommandComplete / EmptyQuery / PortalSuspended
    kClose,              // 'C': CloseComplete
    kSync,               // 'S': ReadyForQuery
    kFunctionCall,       // 'F': FunctionCallResponse then ReadyForQuery
  };
  Kind kind = Kind::kSync;
  // Position in the session's stream of units: increases by one with every push().
  uint64_t seq = 0;
  // Statement or portal name the message named.
  std::string name;
  // When set, the server was sent a statement that fails on purpose in place of one the
  // policy blocked; its ErrorResponse is replaced by this message, with SQLSTATE block_code
  // (42501 when empty) and routine block_routine.
  bool poisoned = false;
  std::string block_message;
  std::string block_code;
  std::string block_routine;
  // The policy version that decided a kQuery / kExecute / kFunctionCall (its event says so).
  uint64_t policy_version = 0;
  // Statement facts and event bookkeeping for kQuery / kExecute.
  policy::QueryFactsPtr facts;
  std::string rule;
  // Set when a human approved the statement (its events say review + this approval).
  std::string approval_id;
  std::string approval_message;
  uint64_t started_us = 0;
  uint64_t rows = 0;
  uint64_t values_masked = 0;
  size_t statement_index = 0;  // next statement of a multi-statement Query
  bool error = false;
  // What the message's name stood for when it was sent (Describe S: the statement; Describe P,
  // the sidecar's own Describe and Execute: the portal). Its answer is read and recorded
  // against that entry, whatever the name stands for when the answer comes.
  std::shared_ptr<NamedStatement> statement_entry;
  std::shared_ptr<NamedPortal> portal_entry;
  // The statement whose result the unit returns, resolved when it was sent, EXECUTE p and
  // FETCH c followed to what p and c stood for then: `source` for Describe and Execute units,
  // `resolved[i]` for statement i of a Query (an empty ref: the statement itself).
  StatementRef source;
  std::vector<StatementRef> resolved;
};

// FIFO of pending units. Single-threaded. A unit stays at its address from push() until it
// is popped; popped units are recycled (a session pushes and pops several per statement), so a
// pointer to a popped unit may later name a new one: owners forget such pointers on pop.
class Pipeline {
 public:
  Pipeline() = default;
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // A fresh unit (all fields default) of `kind` at the back.
  PendingUnit& push(PendingUnit::Kind kind);
  bool empty() const { return units_.empty(); }
  size_t size() const { return units_.size(); }
  PendingUnit* head() { return units_.empty() ? nullptr : units_.front(); }
  void pop() {
    if (units_.empty()) return;
    recycle(units_.front());
    units_.pop_front();
  }
  // After an ErrorResponse outside a simple Query the server skips every message up to the
  // next Sync: drop those units (not the Sync), calling `fn` on each dropped one first.
  template <typename Fn>
  void skipToSync(Fn&& fn) {
    while (!units_.empty() && units_.front()->kind != PendingUnit::Kind::kSync) {
      fn(*units_.front());
      pop();
    }
  }
  // Calls fn(unit) on every pending unit, oldest first.
  template <typename Fn>
  void forEach(Fn&& fn) {
    for (PendingUnit* u : units_) fn(*u);
  }
  // The most recently pushed unit (for filling it in right after push).
  PendingUnit& back() { return *units_.back(); }

 private:
  static constexpr size_t kKeepSpare = 16;
  void recycle(PendingUnit* unit);

  uint64_t next_seq_ = 1;
  std::deque<PendingUnit*> units_;   // owned
  std::vector<PendingUnit*> spare_;  // owned, reset, at most kKeepSpare
};

}  // namespace tollgate::sidecar::postgres
