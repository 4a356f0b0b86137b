// PostgreSQL session: what the gate decides of a statement before it reaches the server. The
// policy engine's verdict, and the refusals the session adds for every role: SQL too long to
// analyse, a client_encoding the sidecar cannot read statements in, a COPY whose rows it cannot
// mask.
#include <algorithm>

#include "policy/sql/statement_table.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {

policy::QueryFactsPtr PostgresSession::analyze(std::string_view sql) {
  if (sql.size() <= config_.max_statement_bytes) return config_.analyzer->analyze(sql);
  return oversizedFacts(sql.size());
}

policy::QueryFactsPtr PostgresSession::oversizedFacts(size_t bytes) const {
  auto facts = std::make_shared<policy::QueryFacts>();
  facts->parsed = false;
  facts->oversized = true;
  facts->error = "a statement of " + std::to_string(bytes) + " bytes is longer than the " +
                 std::to_string(config_.max_statement_bytes) + " bytes the gate analyses";
  return facts;
}

bool PostgresSession::refusedForAuditBacklog(const policy::QueryFacts* facts) const {
  if (!config_.events || config_.events->accepting()) return false;
  // BEGIN / COMMIT / ROLLBACK / SAVEPOINT still run: a client (or a pool's reset) must be able
  // to leave the transaction an earlier refusal aborted.
  const bool transaction_control =
      facts != nullptr && facts->parsed && !facts->statements.empty() &&
      std::all_of(facts->statements.begin(), facts->statements.end(),
                  [](const auto& st) { return st.cls == policy::StatementClass::kTransaction; });
  return !transaction_control;
}

policy::Verdict PostgresSession::auditBacklogVerdict() {
  policy::Verdict v;
  v.decision = policy::Decision::kBlock;
  v.rule = kAuditBacklogRule;
  v.message =
      "blocked by rule \"audit:backlog\": audit events cannot reach the control plane and the "
      "sidecar's spool is full; statements are refused until it drains";
  return v;
}

policy::Verdict PostgresSession::decide(const policy::QueryFacts& facts) {
  if (refusedForAuditBacklog(&facts)) {  // it could not be recorded
    policy::Verdict v = auditBacklogVerdict();
    // Its event names the first statement that is not transaction control.
    for (size_t i = 0; i < facts.statements.size() && !v.deciding_statement; ++i) {
      if (facts.statements[i].cls != policy::StatementClass::kTransaction) v.deciding_statement = i;
    }
    return v;
  }
  policy::Verdict v = decideByPolicy(facts);
  // Held for review, it is sent as it is once approved: what would refuse it now refuses it.
  if (v.decision == policy::Decision::kBlock) return v;
  // EXECUTE / FETCH of a statement or cursor that a policy update refused since it was made.
  if (auto [r, i] = runs_.refusedByName(facts); r != nullptr) {
    v.decision = policy::Decision::kBlock;
    v.rule = r->rule;
    v.message = r->message;
    if (facts.statements.size() > 1) {
      v.message += " (statement " + std::to_string(i + 1) + " of " +
                   std::to_string(facts.statements.size()) + ")";
    }
    v.deciding_statement = i;
  } else if (auto stale = staleInQuery(facts)) {
    v.decision = policy::Decision::kBlock;
    v.rule = stale->first.rule;
    v.message = stale->first.message;
    v.deciding_statement = stale->second;
  }
  return v;
}

policy::Verdict PostgresSession::decideByPolicy(const policy::QueryFacts& facts) {
  if (facts.oversized) {  // whatever defaults.onParseError says: it was never read
    policy::Verdict v;
    v.decision = policy::Decision::kBlock;
    v.rule = "limit:statement-size";
    v.message = "blocked by rule \"limit:statement-size\": " + facts.error;
    return v;
  }
  policy::Verdict v = policy::decide(*config_.policy, config_.identity, config_.resource->name,
                                     config_.role, facts);
  if (v.decision != policy::Decision::kAllow) return v;
  // The server converts every later message from client_encoding before lexing it: in an
  // encoding whose characters may hold a quote or backslash byte, it would read statements
  // otherwise than the sidecar did. Refused for every role.
  for (size_t i = 0; i < facts.statements.size(); ++i) {
    const auto& enc = facts.statements[i].sets_client_encoding;
    if (!enc || (!enc->empty() && !policy::sql::isAsciiEmbeddingEncoding(*enc))) continue;
    v.decision = policy::Decision::kBlock;
    v.rule = "client-encoding";
    v.message = "blocked by rule \"client-encoding\": " +
                encodingNotAnalysable(enc->empty() ? "set to a value the sidecar cannot read"
                                                   : std::string_view(*enc));
    v.deciding_statement = i;
    return v;
  }
  if (!config_.masker) return v;
  // COPY ... TO STDOUT rows carry no column names or types: the sidecar reads them back in
  // their text or CSV format and masks each field by the statement's own column list or query
  // (copy_masker.h). What it cannot read that way is refused rather than sent unmasked.
  const policy::Masker& masker = *config_.masker;
  if (!masker.hasColumnRules() && !masker.hasDetectorRules()) return v;
  for (size_t i = 0; i < facts.statements.size(); ++i) {
    const auto& st = facts.statements[i];
    if (!st.copy_out) continue;
    std::string why;
    if (!st.copy_out->readable) {
      why = "its format options cannot be read";
    } else if (st.copy_out->kind == policy::CopyOutFormat::Kind::kBinary) {
      why = "binary COPY cannot be masked; use the text or CSV format";
    } else if (const std::string& enc =
                   st.copy_out->encoding.empty() ? client_encoding_ : st.copy_out->encoding;
               policy::sql::isAsciiEmbeddingEncoding(enc)) {
      why = "rows in encoding " + enc.substr(0, 32) +
            " cannot be read back field by field (a character may hold a delimiter or backslash "
            "byte); use client_encoding UTF8";
    } else if (masker.hasColumnRules() && !st.lineage.known) {
      why =
          "the column masking rules need the columns named: COPY t (a, b) TO STDOUT, or "
          "COPY (SELECT ...) TO STDOUT";
    }
    if (why.empty()) continue;
    v.decision = policy::Decision::kBlock;
    v.rule = "masking:copy-out";
    v.message = "blocked by rule \"masking:copy-out\": COPY TO STDOUT from resource " +
                config_.resource->name + ": " + why;
    v.deciding_statement = i;
    break;
  }
  return v;
}

}  // namespace tollgate::sidecar::postgres
