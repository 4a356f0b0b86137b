// The decision engine: given who asks, on which resource, with which role, and the facts of a
// query, decide allow / review / block and say which rule decided and why.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/compiled_policy.h"
#include "policy/model.h"
#include "policy/sql/facts.h"
#include "policy/subject.h"

namespace tollgate::policy {

// The decision for one statement of a query.
struct StatementVerdict {
  size_t index = 0;  // 0-based position in QueryFacts::statements
  Decision decision = Decision::kBlock;
  // The rule that decided: "role:read" (the grant's role allowed or refused it),
  // "guardrail:NAME", "masking:copy", "parse-error", "empty", "unknown-resource".
  std::string rule;
  // Fit for the client, e.g. `blocked by rule "no-ddl": DDL is not allowed from jobs`.
  // Never contains literal values from the statement.
  std::string message;
  std::optional<Approvers> approvers;  // set when decision == kReview
};

// The decision for a whole query: the strictest statement decides (block > review > allow; the
// first statement among equals), and the query verdict repeats that statement's fields.
struct Verdict {
  Decision decision = Decision::kBlock;
  std::string rule;
  std::string message;
  std::optional<Approvers> approvers;
  // Which statement decided; nullopt when no statement did (parse error, empty query).
  std::optional<size_t> deciding_statement;
  std::vector<StatementVerdict> statements;  // one per statement, in order
};

// Whether a grant's role lets a statement through, before guardrails. A read grant allows
// class read and transaction, and the harmless session statements of class other (SET of an
// ordinary setting, RESET, SHOW, DISCARD, DEALLOCATE, CLOSE, LISTEN, UNLISTEN); write adds class
// write; admin allows everything.
bool roleAllows(Role role, const StatementFacts& st);

// Whether `role` may change run-time setting `name` to `value` where no statement decision sees
// it (a startup parameter, a `-c` option): the admin role any setting; read and write roles an
// ordinary one, as for SET: not role, session authorization or session_replication_role, no
// custom dotted setting (`app.tenant` often drives row-level security), and
// standard_conforming_strings only on.
bool settingAllowed(Role role, std::string_view name, std::string_view value);

// True when the guardrail's match holds for statement `st` of `query` (conditions only; the
// caller checks resources and subjects).
bool guardrailMatches(const CompiledGuardrail& g, const StatementFacts& st,
                      const QueryFacts& query);

// Decides a query. Stateless and thread-safe; `policy` must outlive the call only. Rules:
//   1. An unparseable query gets defaults.onParseError (default block), never a silent allow.
//   2. Per statement: a statement the role does not allow is blocked (rule "role:ROLE").
//      Guardrails cannot grant more than the role.
//   3. A write that stores data of a column under a column masking rule where reading it back
//      would not mask it the same way gets masking.copies (rule "masking:copy"; unmaskedCopy()):
//      block (the default) before any guardrail; review unless a guardrail blocks it.
//   4. Otherwise the first guardrail (in policy order) that applies to the resource and the
//      identity and whose match holds decides: block, review (with its approvers) or allow
//      (which ends guardrail evaluation for that statement). No guardrail: allowed by role.
//   5. An unknown resource blocks every statement (rule "unknown-resource").
Verdict decide(const CompiledPolicy& policy, const Identity& identity, std::string_view resource,
               Role role, const QueryFacts& facts);

// Why statement `st` stores data that `masker`'s column rules mask where reading it back would
// not mask it the same way, or "" when it does not (OutputLineage::stored). A stored value
// whose lineage (renames, and the views and functions the caller resolved into them) names a
// column under rule R, or that may carry a whole row or any column (then every column rule
// counts), must go to a column whose first matching rule is R or masks as R does. A column the
// statement does not name (INSERT without a column list, `*` stored by position) is masked by
// no rule.
std::string unmaskedCopy(const Masker& masker, const StatementFacts& st);

}  // namespace tollgate::policy
