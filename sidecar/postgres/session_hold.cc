// PostgreSQL session: statements held for a human approval or for their audit record.
#include "common/log.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

const policy::StatementFacts* decidingStatement(const policy::QueryFacts& facts,
                                                const policy::Verdict& verdict) {
  if (verdict.deciding_statement && *verdict.deciding_statement < facts.statements.size()) {
    return &facts.statements[*verdict.deciding_statement];
  }
  return facts.statements.empty() ? nullptr : &facts.statements.front();
}

}  // namespace

void PostgresSession::holdForApproval(char type, std::string_view raw, std::string name,
                                      policy::QueryFactsPtr facts, const policy::Verdict& verdict) {
  const policy::StatementFacts* st = decidingStatement(*facts, verdict);
  StatementApprovalRequest req;
  req.session_id = id_;
  req.resource = config_.resource->name;
  if (st != nullptr) {
    req.statement = st->normalized;
    req.statement_class = std::string(policy::className(st->cls));
  }
  req.rule = verdict.rule;
  req.grant_id = config_.grant_id;
  held_ = Held{type,    std::string(raw), std::move(name),       std::move(facts),
               verdict, nowUs(),          config_.policy_version};
  log::info("statement held for approval",
            {{"session", id_}, {"rule", verdict.rule}, {"statement", req.statement}});
  std::weak_ptr<bool> alive = alive_;
  auto post = config_.post;
  config_.approvals->requestApproval(req, [this, alive, post](StatementApprovalResult r) {
    post([this, alive, r = std::move(r)] {
      if (alive.lock()) onApprovalResult(r);
    });
  });
}

void PostgresSession::onApprovalResult(const StatementApprovalResult& result) {
  if (!held_ || state_ != State::kReady) return;
  policy::Verdict v = held_->verdict;
  if (result.approved) {
    v.decision = policy::Decision::kAllow;
    v.message = result.message;
  } else {
    v.message = v.message + "; " + result.message;
  }
  log::info("held statement decided", {{"session", id_},
                                       {"approval", result.approval_id},
                                       {"approved", result.approved ? "true" : "false"}});
  resumeHeld(v, result.approval_id);
}

bool PostgresSession::holdForAudit(char type, std::string_view raw, std::string name,
                                   policy::QueryFactsPtr facts, const policy::Verdict& verdict) {
  if (!config_.events || !config_.post) return false;
  const policy::StatementFacts* st = decidingStatement(*facts, verdict);
  v1::AuditEvent e = baseEvent(v1::EVENT_STATEMENT);
  if (st != nullptr) {
    auto* a = e.mutable_action();
    a->set_statement(st->normalized);
    a->set_statement_class(std::string(policy::className(st->cls)));
    a->set_statement_type(st->type);
    a->set_fingerprint(st->fingerprint);
  }
  e.mutable_action()->set_detail("recorded before forwarding (audit: sync)");
  e.mutable_reason()->set_decision(v1::DECISION_ALLOW);
  if (!verdict.rule.empty()) e.mutable_reason()->add_rule_ids(verdict.rule);
  held_ = Held{type,    std::string(raw), std::move(name),       std::move(facts),
               verdict, nowUs(),          config_.policy_version};
  std::weak_ptr<bool> alive = alive_;
  auto post = config_.post;
  config_.events->publishConfirmed(std::move(e), [this, alive, post](bool stored) {
    post([this, alive, stored] {
      if (alive.lock()) onAuditConfirmed(stored);
    });
  });
  return true;
}

void PostgresSession::onAuditConfirmed(bool stored) {
  if (!held_ || state_ != State::kReady) return;
  resumeHeld(stored ? held_->verdict : auditSyncRefusal(held_->verdict), "");
}

policy::Verdict PostgresSession::auditSyncRefusal(policy::Verdict verdict) const {
  // Strict mode: no record, no statement.
  verdict.decision = policy::Decision::kBlock;
  verdict.rule = "audit:sync";
  if (!config_.events) {
    verdict.message =
        "tollgate: audit: sync is in force and this sidecar records no audit events (standalone "
        "mode without --events); the statement was not run";
    return verdict;
  }
  verdict.message =
      "tollgate: audit: sync is in force and the statement's audit record could not be "
      "stored in time (control plane unreachable, audit spool not writable, or events file not "
      "writable); the statement was not run";
  return verdict;
}

void PostgresSession::resumeHeld(const policy::Verdict& verdict, const std::string& approval_id) {
  Held h = std::move(*held_);
  held_.reset();
  policy::Verdict final_verdict = verdict;
  std::string final_approval = approval_id;
  if (h.policy_version != config_.policy_version &&
      final_verdict.decision == policy::Decision::kAllow) {
    // A policy update came while it was held: it is decided again. What that policy blocks is
    // not run; nor is what it sends for review, unless a human approved this statement.
    policy::Verdict now = decide(*h.facts);
    if (refusedAgain(now, !approval_id.empty())) {
      final_verdict = now;
      final_verdict.decision = policy::Decision::kBlock;
      final_verdict.message += " (decided again under policy version " +
                               std::to_string(config_.policy_version) +
                               ", which came while the statement was held)";
      final_approval.clear();  // recorded as the block it is
    }
  }
  if (h.type == 'Q') {
    applyQuery(h.raw, h.facts, final_verdict, h.started_us, final_approval);
  } else {
    applyParse(h.raw, h.name, h.facts, final_verdict, final_approval);
  }
  // The client's later messages waited in the buffer.
  processClient();
}

}  // namespace tollgate::sidecar::postgres
