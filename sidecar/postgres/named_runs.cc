// What a PostgreSQL statement runs by name, followed through the session's names (see
// named_runs.h).
#include "sidecar/postgres/named_runs.h"

#include <memory>

namespace tollgate::sidecar::postgres {

const StatementRef NamedRuns::kUnknownSource = StatementRef::unknown();

const Refusal* NamedRuns::executeRefusal(const std::string& name, const NamedPortal* portal,
                                         const NamedStatement* statement) const {
  if (portal == nullptr) return nullptr;
  // A portal or cursor an unanswered statement replaced: the server may still hold the old one.
  if (portalMayRevert(name)) return &kMayRevert;
  if (portal->refusal) return &*portal->refusal;
  if (!portal->cursor && statement != nullptr && statement->refusal) return &*statement->refusal;
  if (const Refusal* r = !portal->cursor ? runsChanged(statement) : nullptr) return r;
  if (!portal->cursor && statement != nullptr && statement->unannounced) {
    return &*statement->unannounced;
  }
  // A Parse of EXECUTE p / FETCH c runs what p / c stand for now.
  if (!portal->cursor && portal->source.facts) {
    if (const Refusal* r = refusedByName(*portal->source.facts).first) return r;
  }
  // The description the client decodes the rows by: the portal's own, else its statement's.
  if (portal->told_text_columns || portal->cursor) {
    return portal->stale ? &*portal->stale : nullptr;
  }
  return statement != nullptr && statement->stale ? &*statement->stale : nullptr;
}

const Refusal* NamedRuns::runsChanged(const NamedStatement* statement) const {
  if (statement == nullptr || statement->runs_name.empty()) return nullptr;
  const std::shared_ptr<NamedStatement> now = names_.statementEntry(statement->runs_name);
  return now == statement->runs ? nullptr : &*statement->runs_changed;
}

const Refusal NamedRuns::kMayRevert{
    "policy:prepared",
    "blocked by rule \"policy:prepared\": a prepared statement or cursor it runs was redefined "
    "by a statement the server has not answered yet; should that fail, the server would run the "
    "earlier one, which this was not judged with. Send it once that statement is answered",
    "55000", ""};

bool NamedRuns::definedEarlier(const policy::QueryFacts& facts, size_t i) {
  const policy::StatementFacts& st = facts.statements[i];
  // EXECUTE names a prepared statement, FETCH / MOVE a portal.
  const bool statement = namesStatement(st);
  for (size_t j = 0; j < i; ++j) {
    const policy::StatementFacts& prior = facts.statements[j];
    if (prior.lineage.defines == st.lineage.uses && (prior.type == "prepare") == statement) {
      return true;
    }
  }
  return false;
}

std::pair<const Refusal*, size_t> NamedRuns::refusedByName(const policy::QueryFacts& facts) const {
  for (size_t i = 0; i < facts.statements.size(); ++i) {
    auto run = namedRun(facts, i);
    if (run && run->refusal != nullptr) return {run->refusal, i};
  }
  return {nullptr, 0};
}

std::optional<NamedRun> NamedRuns::namedRun(const policy::QueryFacts& facts, size_t i) const {
  const policy::StatementFacts& st = facts.statements[i];
  // A name the same query defined first runs that definition.
  if (st.lineage.uses.empty() || definedEarlier(facts, i)) return std::nullopt;
  std::optional<NamedRun> run;
  // What it names may itself run a name (a portal bound to EXECUTE q or FETCH c, a statement
  // Parse made of FETCH c): it runs what that stands for now, and meets its refusal too.
  const policy::StatementFacts* next = &st;
  for (int hop = 0; next != nullptr && !next->lineage.uses.empty(); ++hop) {
    if (hop == kMaxHops) {
      run->source = &kUnknownSource;  // as resolve(): it may run anything
      break;
    }
    const std::optional<NamedRun> step = namedStep(*next);
    if (!step) break;
    if (!run) {
      run = step;  // named as the statement names it
    } else {
      run->source = step->source;
      if (run->refusal == nullptr) run->refusal = step->refusal;
    }
    next = step->source->statement();
  }
  return run;
}

std::optional<NamedRun> NamedRuns::namedStep(const policy::StatementFacts& st) const {
  const std::string& name = st.lineage.uses;
  if (namesStatement(st)) {
    if (statementMayRevert(name)) {
      return NamedRun{kStatementName, &kUnknownSource, &kMayRevert};
    }
    const NamedStatement* entry = names_.statement(name);
    if (entry == nullptr) return std::nullopt;
    const Refusal* refusal = entry->refusal ? &*entry->refusal : runsChanged(entry);
    return NamedRun{kStatementName, &entry->source, refusal};
  }
  if (portalMayRevert(name)) {
    return NamedRun{kCursorName, &kUnknownSource, &kMayRevert};
  }
  const NamedPortal* portal = names_.portal(name);
  if (portal == nullptr) return std::nullopt;
  NamedRun step{portal->cursor ? kCursorName : kPortalName, &portal->source,
                portal->refusal ? &*portal->refusal : nullptr};
  // A portal Bind made runs its statement.
  if (step.refusal == nullptr && !portal->cursor && portal->statement_entry &&
      portal->statement_entry->refusal) {
    step.refusal = &*portal->statement_entry->refusal;
  }
  return step;
}

}  // namespace tollgate::sidecar::postgres
