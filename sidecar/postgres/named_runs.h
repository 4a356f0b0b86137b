// What a PostgreSQL statement runs by name (SQL EXECUTE p, FETCH c, EXPLAIN [ANALYZE] EXECUTE p,
// a Parse of one of them, a protocol Execute of a portal), followed through the names the
// session holds (NameTable), and the refusal it meets there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "policy/sql/facts.h"
#include "sidecar/postgres/name_table.h"

namespace tollgate::sidecar::postgres {

// What a name names, in messages.
enum NameKind { kStatementName, kCursorName, kPortalName };

// One name followed: the prepared statement, cursor or Bind's portal, what it runs, and the
// refusal it meets (null when none).
struct NamedRun {
  NameKind kind;
  const StatementRef* source;
  const Refusal* refusal;
};

// Reads the session's NameTable (which must outlive it) as it stands when asked; keeps the
// first unit of the extended-protocol batch or Query in progress, which decides whether an
// unanswered redefinition of a name may still be undone (NameTable::statementMayRevert()).
// Single-threaded, like the table.
class NamedRuns {
 public:
  explicit NamedRuns(const NameTable& names) : names_(names) {}
  NamedRuns(const NamedRuns&) = delete;
  NamedRuns& operator=(const NamedRuns&) = delete;

  // Names followed from one to what it runs (EXECUTE s, s a Parse of FETCH p, p bound to
  // EXECUTE q), at most; past them, what it runs is not known (kUnknownSource).
  static constexpr int kMaxHops = 4;
  static const StatementRef kUnknownSource;
  // Refuses what runs a name an unanswered earlier statement redefined (SQLSTATE 55000).
  static const Refusal kMayRevert;

  // The batch in progress starts at unit `unit` (the unit after a Sync, or a Query outside an
  // extended batch).
  void startBatch(uint64_t unit) { batch_start_ = unit; }
  uint64_t batchStart() const { return batch_start_; }
  bool statementMayRevert(const std::string& name) const {
    return names_.statementMayRevert(name, batch_start_);
  }
  bool portalMayRevert(const std::string& name) const {
    return names_.portalMayRevert(name, batch_start_);
  }

  // What statement `i` of `facts` runs by name, when the session holds that name and the Query
  // did not define it first (definedEarlier()): followed through up to kMaxHops names, named
  // as the statement names it, with the first refusal met on the way (a newer policy's,
  // tablesMayHaveChanged()'s, kMayRevert, a changed EXECUTE target; for a portal, also its
  // statement's).
  std::optional<NamedRun> namedRun(const policy::QueryFacts& facts, size_t i) const;
  // The one name `st` uses (EXECUTE p, FETCH c), as the session holds it now; nullopt when it
  // holds no such name.
  std::optional<NamedRun> namedStep(const policy::StatementFacts& st) const;
  // The first refusal a statement of `facts` meets by name (namedRun()), and its index; null
  // when none.
  std::pair<const Refusal*, size_t> refusedByName(const policy::QueryFacts& facts) const;
  // The refusal an Execute of portal `name` meets (bound from `statement`), or null.
  const Refusal* executeRefusal(const std::string& name, const NamedPortal* portal,
                                const NamedStatement* statement) const;
  // A Parse of EXECUTE p whose p changed since: its runs_changed refusal (null otherwise).
  const Refusal* runsChanged(const NamedStatement* statement) const;

  // Whether the name statement `i` of `facts` runs (EXECUTE p, FETCH c) is defined by an
  // earlier statement of the same Query (PREPARE p, DECLARE c): it runs that definition.
  static bool definedEarlier(const policy::QueryFacts& facts, size_t i);
  // Whether the name `st` uses or plans is a prepared statement's (EXECUTE p, EXPLAIN EXECUTE
  // p), not a portal's (FETCH c).
  static bool namesStatement(const policy::StatementFacts& st) {
    return st.type == "execute" || st.type == "explain";
  }
  // The prepared statement `st` runs or plans (EXECUTE p, EXPLAIN [ANALYZE] EXECUTE p); empty
  // for any other statement.
  static const std::string& statementRun(const policy::StatementFacts& st) {
    static const std::string kNone;
    if (!namesStatement(st)) return kNone;
    return st.type == "explain" ? st.lineage.explains : st.lineage.uses;
  }

 private:
  const NameTable& names_;
  uint64_t batch_start_ = 0;
};

}  // namespace tollgate::sidecar::postgres
