// Named statements and portals with an undo journal (see name_table.h).
#include "sidecar/postgres/name_table.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace tollgate::sidecar::postgres {

const policy::OutputLineage* StatementRef::lineage() const {
  if (opaque) {
    static const policy::OutputLineage kOpaque = [] {
      policy::OutputLineage l;
      l.known = true;
      l.opaque = true;
      return l;
    }();
    return &kOpaque;
  }
  const policy::StatementFacts* st = statement();
  return st != nullptr ? &st->lineage : nullptr;
}

const policy::StatementFacts* StatementRef::statement() const {
  if (!facts || index >= facts->statements.size()) return nullptr;
  return &facts->statements[index];
}

namespace {

// PostgreSQL keys prepared statements and portals by their first NAMEDATALEN - 1 bytes: "p"
// followed by 70 x's and "p" followed by 63 x's and a y are one name to the server.
constexpr size_t kMaxNameBytes = 63;

absl::string_view key(const std::string& name) {
  return absl::string_view(name).substr(0, kMaxNameBytes);
}

// The entry `name` stands for in `map` (a statement or portal table), or nullptr.
template <typename Map>
auto* find(Map& map, const std::string& name) {
  auto it = map.find(key(name));
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

void NameTable::journal(Change change) {
  Pending& p = pendingOf(change.is_statement)[change.name];
  ++p.changes;
  if (mayUndoTo(change)) ++p.may_undo;
  p.last_unit = change.unit;  // units come in order
  journal_.push_back(std::move(change));
}

void NameTable::forget(const Change& change) {
  PendingMap& map = pendingOf(change.is_statement);
  auto it = map.find(change.name);
  if (it == map.end()) return;
  if (mayUndoTo(change)) --it->second.may_undo;
  if (--it->second.changes == 0) map.erase(it);
}

void NameTable::recountPending() {
  pending_statements_.clear();
  pending_portals_.clear();
  for (const Change& c : journal_) {
    Pending& p = pendingOf(c.is_statement)[c.name];
    ++p.changes;
    if (mayUndoTo(c)) ++p.may_undo;
    p.last_unit = c.unit;
  }
}

void NameTable::journalStatement(uint64_t unit, size_t at, absl::string_view name) {
  Change c{unit, at, true, std::string(name), nullptr, nullptr};
  if (auto it = statements_.find(name); it != statements_.end()) {
    c.old_statement = std::move(it->second);
  }
  journal(std::move(c));
}

void NameTable::journalPortal(uint64_t unit, size_t at, absl::string_view name) {
  Change c{unit, at, false, std::string(name), nullptr, nullptr};
  if (auto it = portals_.find(name); it != portals_.end()) c.old_portal = std::move(it->second);
  journal(std::move(c));
}

NamedStatement& NameTable::defineStatement(uint64_t unit, size_t at, const std::string& name) {
  journalStatement(unit, at, key(name));
  auto& entry = statements_[key(name)];
  entry = std::make_shared<NamedStatement>();
  return *entry;
}

NamedPortal& NameTable::definePortal(uint64_t unit, size_t at, const std::string& name) {
  // The unnamed portal is not journaled (a batch of many Binds would keep every entry until its
  // Sync is answered): undo() makes it opaque instead.
  if (!name.empty()) journalPortal(unit, at, key(name));
  auto& entry = portals_[key(name)];
  entry = std::make_shared<NamedPortal>();
  entry->defined_by = unit;
  return *entry;
}

void NameTable::releaseStatement(uint64_t unit, size_t at, const std::string& name) {
  if (!statements_.contains(key(name))) return;
  journalStatement(unit, at, key(name));
  statements_.erase(key(name));
}

void NameTable::releasePortal(uint64_t unit, size_t at, const std::string& name) {
  if (!portals_.contains(key(name))) return;
  journalPortal(unit, at, key(name));
  portals_.erase(key(name));
}

void NameTable::releaseAllStatements(uint64_t unit, size_t at) {
  std::vector<std::string> names;
  for (const auto& [name, s] : statements_) names.push_back(name);
  for (const auto& name : names) releaseStatement(unit, at, name);
}

void NameTable::releaseAllPortals(uint64_t unit, size_t at) {
  std::vector<std::string> names;
  for (const auto& [name, p] : portals_) names.push_back(name);
  for (const auto& name : names) releasePortal(unit, at, name);
}

NamedStatement* NameTable::statement(const std::string& name) {
  auto* entry = find(statements_, name);
  return entry != nullptr ? entry->get() : nullptr;
}

NamedPortal* NameTable::portal(const std::string& name) {
  auto* entry = find(portals_, name);
  return entry != nullptr ? entry->get() : nullptr;
}

const NamedStatement* NameTable::statement(const std::string& name) const {
  auto* entry = find(statements_, name);
  return entry != nullptr ? entry->get() : nullptr;
}

std::shared_ptr<NamedStatement> NameTable::statementEntry(const std::string& name) const {
  auto* entry = find(statements_, name);
  return entry != nullptr ? *entry : nullptr;
}

const NamedPortal* NameTable::portal(const std::string& name) const {
  auto* entry = find(portals_, name);
  return entry != nullptr ? entry->get() : nullptr;
}

std::shared_ptr<NamedPortal> NameTable::portalEntry(const std::string& name) const {
  auto* entry = find(portals_, name);
  return entry != nullptr ? *entry : nullptr;
}

void NameTable::restore(Change& change) {
  if (change.is_statement) {
    if (change.old_statement) {
      statements_[change.name] = std::move(change.old_statement);
    } else {
      statements_.erase(change.name);
    }
  } else {
    if (change.old_portal) {
      portals_[change.name] = std::move(change.old_portal);
    } else {
      portals_.erase(change.name);
    }
  }
}

void NameTable::undo(uint64_t unit, size_t at, uint64_t until) {
  bool changed = false;
  // A Bind of the unnamed portal that failed (or was skipped) may have left the server's old
  // one, which ROLLBACK TO SAVEPOINT makes readable again: what it returns is not known.
  if (auto* unnamed = find(portals_, std::string()); unnamed != nullptr && *unnamed != nullptr &&
                                                     (*unnamed)->defined_by >= unit &&
                                                     (*unnamed)->defined_by < until) {
    (*unnamed)->source = StatementRef::unknown();
    (*unnamed)->statement_entry.reset();
  }
  for (size_t i = journal_.size(); i-- > 0;) {
    Change& c = journal_[i];
    const bool undone = (c.unit == unit && c.at >= at) || (c.unit > unit && c.unit < until);
    if (!undone) continue;
    // A later change to the same name (a batch pipelined behind this one) is what the table
    // shows now; what it replaced is what this change replaced.
    Change* later = nullptr;
    for (size_t j = i + 1; j < journal_.size() && later == nullptr; ++j) {
      if (journal_[j].is_statement == c.is_statement && journal_[j].name == c.name) {
        later = &journal_[j];
      }
    }
    if (later != nullptr) {
      later->old_statement = std::move(c.old_statement);
      later->old_portal = std::move(c.old_portal);
    } else {
      restore(c);
    }
    journal_.erase(journal_.begin() + static_cast<std::ptrdiff_t>(i));
    changed = true;
  }
  // Rare (a unit failed): what each name has pending is counted again.
  if (changed) recountPending();
}

bool NameTable::mayRevert(bool is_statement, const std::string& name, uint64_t before) const {
  if (!is_statement && name.empty()) {
    // Bound by a unit of an earlier batch the server has not answered.
    const auto* unnamed = find(portals_, name);
    return unnamed != nullptr && *unnamed != nullptr && (*unnamed)->defined_by < before &&
           (*unnamed)->defined_by >= settled_;
  }
  const absl::string_view k = key(name);
  // Nothing pending that could put back another entry, or the batch in progress changed it: no
  // scan. Units are in order, so the newest change's unit is the highest.
  const PendingMap& map = is_statement ? pending_statements_ : pending_portals_;
  const auto pending = map.find(k);
  if (pending == map.end() || pending->second.may_undo == 0 ||
      pending->second.last_unit >= before) {
    return false;
  }
  const void* now = is_statement ? static_cast<const void*>(statementEntry(name).get())
                                 : static_cast<const void*>(portalEntry(name).get());
  ++journal_scans_;
  bool may = false;
  for (const Change& c : journal_) {
    if (c.is_statement != is_statement || c.name != k) continue;
    if (c.unit >= before) return false;  // the batch in progress changed it
    const void* old = is_statement ? static_cast<const void*>(c.old_statement.get())
                                   : static_cast<const void*>(c.old_portal.get());
    may = may || (!c.certain && old != nullptr && old != now);
  }
  return may;
}

void NameTable::markCertain(uint64_t unit) {
  // The unit just sent: its changes are the newest.
  for (size_t i = journal_.size(); i-- > 0 && journal_[i].unit >= unit;) {
    Change& c = journal_[i];
    if (c.unit != unit || c.certain) continue;
    if (mayUndoTo(c)) --pendingOf(c.is_statement)[c.name].may_undo;
    c.certain = true;
  }
}

void NameTable::settle(uint64_t unit) {
  settled_ = std::max(settled_, unit);
  size_t n = 0;
  while (n < journal_.size() && journal_[n].unit < unit) ++n;
  if (n == journal_.size()) {
    journal_.clear();  // keeps the capacity
    pending_statements_.clear();
    pending_portals_.clear();
  } else if (n > 0) {
    for (size_t i = 0; i < n; ++i) forget(journal_[i]);
    journal_.erase(journal_.begin(), journal_.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

void NameTable::endTransaction(uint64_t unit) {
  if (portals_.size() <= 1) return;  // the common case: only the unnamed portal
  absl::erase_if(portals_, [&](const auto& entry) {
    const NamedPortal& p = *entry.second;
    return !entry.first.empty() && !p.holds && p.defined_by < unit;
  });
}

namespace {

// Entries gathered once each, with the name they were reached by.
template <typename Entry>
class Reached {
 public:
  void add(const std::string& name, const std::shared_ptr<Entry>& entry) {
    if (entry != nullptr && seen_.insert(entry.get()).second) out_.emplace_back(name, entry.get());
  }
  std::vector<std::pair<std::string, Entry*>> take() { return std::move(out_); }

 private:
  std::vector<std::pair<std::string, Entry*>> out_;
  absl::flat_hash_set<const Entry*> seen_;
};

}  // namespace

std::vector<std::pair<std::string, NamedStatement*>> NameTable::reachableStatements() const {
  Reached<NamedStatement> r;
  for (const auto& [name, entry] : statements_) r.add(name, entry);
  for (const auto& [name, portal] : portals_) r.add(portal->statement, portal->statement_entry);
  for (const Change& c : journal_) {
    if (c.is_statement) r.add(c.name, c.old_statement);
    if (!c.is_statement && c.old_portal) {
      r.add(c.old_portal->statement, c.old_portal->statement_entry);
    }
  }
  return r.take();
}

std::vector<std::pair<std::string, NamedPortal*>> NameTable::reachablePortals() const {
  Reached<NamedPortal> r;
  for (const auto& [name, entry] : portals_) r.add(name, entry);
  for (const Change& c : journal_) {
    if (!c.is_statement) r.add(c.name, c.old_portal);
  }
  return r.take();
}

}  // namespace tollgate::sidecar::postgres
