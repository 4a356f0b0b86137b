// The prepared statements and portals a PostgreSQL session holds on the server, by name, as
// the sidecar tracks them: what each one returns (for masking) and ran under (for events).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "policy/sql/facts.h"

namespace tollgate::sidecar::postgres {

// One statement of an analysed query: the one a named statement or portal runs. Empty (no
// facts) when nothing says what it runs; `opaque` when it is known to run something the sidecar
// never saw (a cursor a function opened): masking then treats every column as any column.
struct StatementRef {
  policy::QueryFactsPtr facts;  // keeps the lineage alive
  size_t index = 0;
  bool opaque = false;

  static StatementRef unknown() { return StatementRef{nullptr, 0, true}; }
  // The statement's result lineage; a lineage marked opaque for unknown(); null when empty.
  const policy::OutputLineage* lineage() const;
  const policy::StatementFacts* statement() const;
  bool operator==(const StatementRef& o) const {
    return facts == o.facts && index == o.index && opaque == o.opaque;
  }
};

// Why an Execute is refused although its statement was allowed when it was prepared: a policy
// update decided it again, or changed the columns the client was told the result has.
struct Refusal {
  std::string rule;
  std::string message;
  std::string sqlstate;
  std::string routine;  // the ErrorResponse's R field
};

struct NamedStatement {
  StatementRef source;
  std::string rule;         // the policy rule that allowed it
  std::string description;  // RowDescription raw bytes from Describe statement ("" unknown)
  bool no_data = false;
  bool approved = false;  // a human approved it (a review a newer policy repeats stands)
  // Made while `audit: sync` was in force: its record was acknowledged before the server saw
  // it. One made before a policy turned sync on never was: a protocol Execute of it (Bind names
  // it) is refused with `unannounced` until it is parsed again. SQL EXECUTE is not: it is a
  // Query of its own, held for its own record.
  bool audit_sync = false;
  std::optional<Refusal> unannounced;
  // A newer policy refuses the statement: every Execute of it is refused.
  std::optional<Refusal> refusal;
  // A Parse of EXECUTE p or EXPLAIN EXECUTE p was judged with p as it stood then (`runs`, null
  // when there was none): once p is prepared again or deallocated, it would run a statement it
  // was not judged with, and is refused with `runs_changed`.
  std::string runs_name;
  std::shared_ptr<const NamedStatement> runs;
  std::optional<Refusal> runs_changed;
  // Which columns the client was told are text by its last Describe (none: never described).
  std::optional<std::vector<uint16_t>> told_text_columns;
  // A newer policy describes its columns otherwise than the client was told (SQLSTATE 0A000,
  // as PostgreSQL answers when a table changed under a prepared statement); a new Describe
  // of the statement clears it.
  std::optional<Refusal> stale;
};

struct NamedPortal {
  StatementRef source;
  std::string statement;  // Bind: the statement it was bound from
  // That statement as it was at Bind (for its description): closing and re-parsing the name
  // later does not change what the portal runs.
  std::shared_ptr<NamedStatement> statement_entry;
  bool cursor = false;    // DECLARE CURSOR made it (no statement)
  bool approved = false;  // its DECLARE was approved by a human
  bool holds = false;     // WITH HOLD: survives the end of its transaction
  std::vector<int16_t> result_formats;
  std::string description;  // from Describe portal
  bool no_data = false;
  // The client sent a Describe of it in the extended batch that starts at this unit, plus one
  // (0: none): its answer (a portal's is its result as bound) comes before the rows of an
  // Execute of the same batch, so the sidecar need not ask itself. Should the Describe fail or
  // be skipped, so is the Execute (the server skips the rest of a batch after an error).
  uint64_t described_in_batch = 0;
  uint64_t defined_by = 0;  // the unit that made it
  // As in NamedStatement, for the portal's own description (Describe portal); `refusal`: a
  // DECLAREd cursor whose query a newer policy refuses.
  std::optional<std::vector<uint16_t>> told_text_columns;
  std::optional<Refusal> stale;
  std::optional<Refusal> refusal;
};

// What a statement or portal entry runs; StatementRef::unknown() when there is no entry.
template <typename Entry>
StatementRef sourceOf(const std::shared_ptr<Entry>& entry) {
  return entry != nullptr ? entry->source : StatementRef::unknown();
}

// PostgreSQL has one namespace of prepared statements (Parse and PREPARE define them, Bind and
// EXECUTE run them, Close and DEALLOCATE drop them) and one of portals (Bind and DECLARE define
// them, Execute and FETCH read them). A change is made when the client's message is relayed, so
// the messages pipelined behind it see it, and is journaled against the unit that made it
// (PendingUnit::seq, and the statement index inside a simple Query). When the server refuses
// that unit, or skips it after an earlier error in its batch, the change is undone: the table
// never says a name stands for a statement the server does not hold under it (a refused
// "Parse p" must not make "p" look like a harmless statement while the server still runs the
// first one). Names are cut to their first 63 bytes, as the server keys them.
//
// Every definition is a new entry object, shared: a message in flight keeps the entry its name
// stood for when the message was sent (PendingUnit), so a Describe's late answer lands in that
// entry, not in whatever the name stands for by then. Single-threaded.
class NameTable {
 public:
  // Defines statement `name` (replacing any): returns its entry, reset, for the caller to fill.
  NamedStatement& defineStatement(uint64_t unit, size_t at, const std::string& name);
  // Defines portal `name`, likewise. The unnamed portal is not journaled: when the Bind that made
  // it fails or is skipped, undo() makes it opaque (the server may still hold the one before,
  // which ROLLBACK TO SAVEPOINT makes readable again).
  NamedPortal& definePortal(uint64_t unit, size_t at, const std::string& name);
  void releaseStatement(uint64_t unit, size_t at, const std::string& name);
  void releasePortal(uint64_t unit, size_t at, const std::string& name);
  void releaseAllStatements(uint64_t unit, size_t at);
  void releaseAllPortals(uint64_t unit, size_t at);

  NamedStatement* statement(const std::string& name);
  NamedPortal* portal(const std::string& name);
  const NamedStatement* statement(const std::string& name) const;
  const NamedPortal* portal(const std::string& name) const;
  // The entries themselves (null when the name is free), for messages in flight to keep.
  std::shared_ptr<NamedStatement> statementEntry(const std::string& name) const;
  std::shared_ptr<NamedPortal> portalEntry(const std::string& name) const;

  // Unit `unit` failed at its statement `at` (0 for extended-protocol units), and the server
  // skipped the units after it up to, not including, `until`: their changes are undone, newest
  // first.
  void undo(uint64_t unit, size_t at, uint64_t until);
  // Every unit before `unit` has been answered: its changes stand.
  void settle(uint64_t unit);
  // The server is outside a transaction block: portals made before `unit` are gone, except
  // WITH HOLD cursors.
  void endTransaction(uint64_t unit);

  // Whether an undo may still put back another existing entry for statement (or portal) `name`:
  // a unit before `before` (the batch in progress) that the server has not answered yet
  // replaced one. A statement judged with what the name stands for now would, should that unit
  // fail, run the one it replaced, unjudged. Not when the batch in progress changed the name
  // itself: had the earlier change been undone, that change fails (a Parse of a name in use) or
  // leaves the name free, and the server skips the rest of the batch.
  bool statementMayRevert(const std::string& name, uint64_t before) const {
    return mayRevert(true, name, before);
  }
  bool portalMayRevert(const std::string& name, uint64_t before) const {
    return mayRevert(false, name, before);
  }

  // Unit `unit`'s changes cannot be undone (a Close first in its batch: the server always
  // answers it; a Parse of the unnamed statement first in its batch: the server drops the old
  // one even when the Parse fails).
  void markCertain(uint64_t unit);

  size_t journalSize() const { return journal_.size(); }
  // How many times mayRevert() had to read the journal (tests: the common cases need not).
  uint64_t journalScans() const { return journal_scans_; }
  // Every entry a message can still reach: those the names stand for, those an undo would
  // put back, and (statements) those open portals were bound from. Each once, in no order.
  std::vector<std::pair<std::string, NamedStatement*>> reachableStatements() const;
  std::vector<std::pair<std::string, NamedPortal*>> reachablePortals() const;

 private:
  struct Change {
    uint64_t unit = 0;
    size_t at = 0;
    bool is_statement = true;
    std::string name;
    std::shared_ptr<NamedStatement> old_statement;  // null: the name was free
    std::shared_ptr<NamedPortal> old_portal;
    bool certain = false;  // markCertain()
  };
  // What the journal holds for one name, so that mayRevert() answers without a scan unless a
  // change that may be undone replaced an entry of that name.
  struct Pending {
    uint32_t changes = 0;    // journal entries
    uint32_t may_undo = 0;   // of them, those mayUndoTo() an entry
    uint64_t last_unit = 0;  // the newest one's unit
  };
  using PendingMap = absl::flat_hash_map<std::string, Pending>;
  // Whether undoing `change` would put back an existing entry (not one the server always
  // dropped: markCertain()).
  static bool mayUndoTo(const Change& change) {
    return !change.certain &&
           (change.is_statement ? change.old_statement != nullptr : change.old_portal != nullptr);
  }
  PendingMap& pendingOf(bool is_statement) {
    return is_statement ? pending_statements_ : pending_portals_;
  }
  void journal(Change change);
  void forget(const Change& change);  // `change`, the oldest of its name, leaves the journal
  void recountPending();              // from the journal, after an undo
  void journalStatement(uint64_t unit, size_t at, absl::string_view name);
  void journalPortal(uint64_t unit, size_t at, absl::string_view name);
  void restore(Change& change);
  bool mayRevert(bool is_statement, const std::string& name, uint64_t before) const;

  absl::flat_hash_map<std::string, std::shared_ptr<NamedStatement>> statements_;
  absl::flat_hash_map<std::string, std::shared_ptr<NamedPortal>> portals_;
  std::vector<Change> journal_;  // in unit order
  PendingMap pending_statements_;
  PendingMap pending_portals_;
  mutable uint64_t journal_scans_ = 0;
  uint64_t settled_ = 0;  // every unit before it is answered (settle())
};

}  // namespace tollgate::sidecar::postgres
