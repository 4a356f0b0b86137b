// PostgreSQL session, relay phase, the client's side: each client message decided before it
// reaches the server, and queued in the pipeline its responses are paired by
// (session_responses.cc; masking: session_results.cc).
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

using Kind = PendingUnit::Kind;

}  // namespace

void PostgresSession::forwardOrPoison(char type, std::string_view raw, std::string_view statement,
                                      const policy::Verdict& verdict, PendingUnit& unit,
                                      const std::string& poison_message) {
  unit.rule = verdict.rule;
  ResourceStats* stats = config_.stats;
  if (verdict.decision == policy::Decision::kAllow) {
    to_upstream_.append(raw);
    if (stats) stats->statements_allowed.Increment();
    return;
  }
  // The server gets a statement that fails to parse in its place, so that it reports an error
  // at exactly this point of the pipeline and, inside a transaction block, aborts the
  // transaction as the client now expects. Its error is replaced by the policy's on the way
  // back.
  unit.poisoned = true;
  unit.block_message = poison_message;
  // The server skips the rest of an extended-protocol batch after the error this causes.
  if (type == 'P' || type == 'E') batch_refused_ = true;
  ++blocked_;
  if (stats) {
    (verdict.decision == policy::Decision::kReview ? stats->statements_reviewed
                                                   : stats->statements_blocked)
        .Increment();
  }
  if (type == 'P') {
    to_upstream_ += buildParse(statement, poison_token_);
  } else if (type == 'E') {
    // An Execute cannot be made to fail by itself: a Parse that fails (and defines nothing,
    // the syntax error comes first) takes its place in the batch.
    to_upstream_ += buildParse("tollgate refused execute", poison_token_);
  } else {
    to_upstream_ += buildQuery(poison_token_);
  }
}

static std::string blockMessage(const policy::Verdict& v, bool held) {
  if (v.decision == policy::Decision::kReview && !held) {
    return v.message +
           " (approval needs the control plane; in standalone mode the statement is refused)";
  }
  return v.message;
}

void PostgresSession::applyQuery(std::string_view raw, policy::QueryFactsPtr facts,
                                 policy::Verdict verdict, uint64_t started_us,
                                 const std::string& approval_id) {
  PendingUnit& unit = pipeline_.push(Kind::kQuery);
  if (!extended_since_sync_) runs_.startBatch(unit.seq + 1);
  unit.policy_version = config_.policy_version;
  unit.facts = facts;
  unit.started_us = started_us;
  unit.approval_id = approval_id;
  if (!approval_id.empty() && verdict.decision == policy::Decision::kAllow) {
    unit.approval_message = verdict.message;
  }
  forwardOrPoison('Q', raw, "", verdict, unit, blockMessage(verdict, config_.hold_reviews));
  if (!unit.poisoned && copiesFromClient(*facts, 0, facts->statements.size())) {
    copy_in_unit_ = unit.seq;
  }
  if (!unit.poisoned) {
    recordNames(unit, facts, 0, facts->statements.size(), verdict.rule);
    noteTableChanges(*facts);
  }
  if (unit.poisoned) {
    const policy::StatementFacts* st =
        verdict.deciding_statement && *verdict.deciding_statement < facts->statements.size()
            ? &facts->statements[*verdict.deciding_statement]
            : nullptr;
    emitStatement(st, unit, false, 0, kSqlStateInsufficientPrivilege, verdict.decision,
                  verdict.rule, verdict.message);
  }
}

void PostgresSession::applyParse(std::string_view raw, const std::string& name,
                                 policy::QueryFactsPtr facts, policy::Verdict verdict,
                                 const std::string& approval_id) {
  PendingUnit& unit = pipeline_.push(Kind::kParse);
  unit.name = name;
  unit.facts = facts;
  unit.started_us = nowUs();
  unit.approval_id = approval_id;
  const policy::StatementFacts* st = StatementRef{facts, 0}.statement();
  std::string runs_name = st != nullptr ? NamedRuns::statementRun(*st) : std::string();
  std::shared_ptr<const NamedStatement> runs =
      runs_name.empty() ? nullptr : names_.statementEntry(runs_name);
  NamedStatement& named = names_.defineStatement(unit.seq, 0, unit.name);
  // The server drops the unnamed statement before it parses the next: only a Parse it skips
  // (after an error earlier in the batch) leaves the old one.
  if (unit.name.empty() && unit.seq == runs_.batchStart()) names_.markCertain(unit.seq);
  named.source = StatementRef{facts, 0};
  if (!runs_name.empty()) {
    named.runs = std::move(runs);
    named.runs_changed = Refusal{
        "policy:prepared",
        "cached plan must not change result type: prepared statement \"" + name +
            "\" runs prepared statement \"" + runs_name +
            "\", which was prepared again or deallocated since; prepare \"" + name + "\" again",
        std::string(kSqlStateFeatureNotSupported), "RevalidateCachedQuery"};
    named.runs_name = std::move(runs_name);
  }
  named.rule = verdict.rule;
  named.approved = !approval_id.empty();
  named.audit_sync = config_.audit_sync;
  forwardOrPoison('P', raw, name, verdict, unit, blockMessage(verdict, config_.hold_reviews));
  if (!unit.poisoned) noteTableChanges(*facts);
  if (unit.poisoned) {
    emitStatement(st, unit, false, 0, kSqlStateInsufficientPrivilege, verdict.decision,
                  verdict.rule, verdict.message);
  }
}

CallbackAction PostgresSession::onClientMessage(const FrontendMessage& message) {
  if (followPolicy(message.type) == CallbackAction::kStop) return CallbackAction::kStop;
  if (discard_to_sync_) {
    // As the server does after an error in an extended-protocol batch: everything up to the
    // Sync is dropped unseen (nothing of it would run).
    if (message.type != 'S' && message.type != 'X') return CallbackAction::kContinue;
    discard_to_sync_ = false;
  }
  // Statements run: simple queries, executes of a portal, fast-path calls.
  if (message.type == 'Q' || message.type == 'E' || message.type == 'F') ++statement_count_;
  // Extended-protocol messages since the last Sync: a Query among them is part of their batch
  // (after an error the server discards it with them).
  if (message.type == 'P' || message.type == 'B' || message.type == 'D' || message.type == 'E' ||
      message.type == 'C' || message.type == 'H') {
    extended_since_sync_ = true;
  }
  switch (message.type) {
    case 'Q': {
      if (const auto* dropped = std::get_if<DroppedMessage>(&message.body)) {
        // Over max_statement_bytes: dropped unread as it arrived, and refused (its text less
        // the length field and the NUL).
        auto facts = oversizedFacts(dropped->length - 5);
        applyQuery({}, facts, decide(*facts), nowUs(), "");
        break;
      }
      const auto& q = std::get<Query>(message.body);
      auto facts = resolvedFacts(analyze(q.sql), q.sql.size());
      policy::Verdict verdict = decide(*facts);
      if (verdict.decision == policy::Decision::kReview && config_.hold_reviews) {
        holdForApproval('Q', message.raw, "", facts, verdict);
        return CallbackAction::kStop;
      }
      if (verdict.decision == policy::Decision::kAllow && config_.audit_sync) {
        if (holdForAudit('Q', message.raw, "", facts, verdict)) return CallbackAction::kStop;
        verdict = auditSyncRefusal(verdict);
      }
      applyQuery(message.raw, facts, verdict, nowUs(), "");
      break;
    }
    case 'P': {
      if (const auto* dropped = std::get_if<DroppedMessage>(&message.body)) {
        const size_t nul = dropped->head.find('\0');
        if (nul == std::string_view::npos) {
          fatalToClient(kSqlStateProtocolViolation,
                        "tollgate: invalid client message: a Parse of " +
                            std::to_string(dropped->length) +
                            " bytes names its statement with more than " +
                            std::to_string(kDroppedHeadBytes - 1) + " bytes");
          return CallbackAction::kStop;
        }
        auto facts = oversizedFacts(dropped->length - 4 - nul - 1);
        applyParse({}, std::string(dropped->head.substr(0, nul)), facts, decide(*facts), "");
        break;
      }
      const auto& parse = std::get<Parse>(message.body);
      auto facts = resolvedFacts(analyze(parse.query), parse.query.size());
      policy::Verdict verdict = decide(*facts);
      if (verdict.decision == policy::Decision::kReview && config_.hold_reviews) {
        holdForApproval('P', message.raw, std::string(parse.statement), facts, verdict);
        return CallbackAction::kStop;
      }
      if (verdict.decision == policy::Decision::kAllow && config_.audit_sync) {
        if (holdForAudit('P', message.raw, std::string(parse.statement), facts, verdict)) {
          return CallbackAction::kStop;
        }
        verdict = auditSyncRefusal(verdict);
      }
      applyParse(message.raw, std::string(parse.statement), facts, verdict, "");
      break;
    }
    case 'B': {
      const auto& bind = std::get<Bind>(message.body);
      PendingUnit& unit = pipeline_.push(Kind::kBind);
      unit.name.assign(bind.portal.data(), bind.portal.size());
      NamedPortal& portal = names_.definePortal(unit.seq, 0, unit.name);
      portal.statement.assign(bind.statement.data(), bind.statement.size());
      for (uint16_t i = 0; i < bind.result_formats.size(); ++i) {
        portal.result_formats.push_back(bind.result_formats[i]);
      }
      portal.statement_entry = names_.statementEntry(portal.statement);
      portal.source = sourceOf(portal.statement_entry);
      if (runs_.statementMayRevert(portal.statement)) portal.refusal = NamedRuns::kMayRevert;
      to_upstream_.append(message.raw);
      break;
    }
    case 'D': {
      const auto& d = std::get<Describe>(message.body);
      PendingUnit& unit =
          pipeline_.push(d.kind == 'S' ? Kind::kDescribeStatement : Kind::kDescribePortal);
      unit.name = std::string(d.name);
      if (d.kind == 'S') {
        unit.statement_entry = names_.statementEntry(unit.name);
        unit.source = resolve(sourceOf(unit.statement_entry));
      } else {
        unit.portal_entry = names_.portalEntry(unit.name);
        unit.source = resolve(sourceOf(unit.portal_entry));
        if (unit.portal_entry) unit.portal_entry->described_in_batch = runs_.batchStart() + 1;
      }
      to_upstream_.append(message.raw);
      break;
    }
    case 'E': {
      const auto& e = std::get<Execute>(message.body);
      std::string portal_name(e.portal);
      std::shared_ptr<NamedPortal> entry = names_.portalEntry(portal_name);
      if (entry == nullptr) {
        // A portal the sidecar never saw made: a cursor a function opened (OPEN c FOR ...), or
        // none. It may return anything: read as a cursor of unknown rows (masked whole, as
        // FETCH of it is), its description asked of the server.
        entry = std::make_shared<NamedPortal>();
        entry->cursor = true;
        entry->source = StatementRef::unknown();
      }
      const NamedPortal* portal = entry.get();
      const NamedStatement* info =
          portal != nullptr && !portal->cursor ? portal->statement_entry.get() : nullptr;
      const StatementRef source = resolve(sourceOf(entry));
      // Known, or answered before this Execute's rows: the portal's own description (a Describe
      // of it the client sent in this batch too: libpq sends Bind, Describe portal, Execute,
      // Sync at once), else its statement's, when that is fixed at Parse. A statement that runs
      // a name (FETCH c, EXECUTE q) or a procedure is described as it stood at its Parse
      // (NoData for a cursor declared later): its portal is asked.
      const uint64_t this_batch = runs_.batchStart() + 1;
      const bool statement_fixed = info != nullptr && resultFixedAtParse(info->source);
      bool described =
          portal != nullptr && (!portal->description.empty() || portal->no_data ||
                                portal->described_in_batch == this_batch ||
                                (statement_fixed && (!info->description.empty() || info->no_data)));
      // A prepared statement was decided at its Parse (and again by a policy update since);
      // past the audit backlog its Execute is refused too (decided here), since its event could
      // not be recorded.
      const policy::QueryFacts* decided =
          portal != nullptr && !portal->cursor ? portal->source.facts.get() : nullptr;
      std::optional<Refusal> refusal;
      if (batch_refused_) {
        // An earlier message of this batch was refused: the server skips this one, as it does
        // after any error, and nothing is refused or recorded twice.
      } else if (refusedForAuditBacklog(decided)) {
        const policy::Verdict v = auditBacklogVerdict();
        refusal = Refusal{v.rule, v.message, std::string(kSqlStateInsufficientPrivilege), ""};
      } else if (const Refusal* r = runs_.executeRefusal(portal_name, portal, info)) {
        refusal = *r;
      }
      if (refusal) {
        PendingUnit& unit = pipeline_.push(Kind::kExecute);
        unit.policy_version = config_.policy_version;
        unit.name = portal_name;
        unit.portal_entry = std::move(entry);
        unit.source = source;
        unit.started_us = nowUs();
        unit.block_code = refusal->sqlstate;
        unit.block_routine = refusal->routine;
        policy::Verdict v;
        v.decision = policy::Decision::kBlock;
        v.rule = refusal->rule;
        forwardOrPoison('E', message.raw, "", v, unit, refusal->message);
        const policy::StatementFacts* st =
            decided != nullptr && portal->source.index < decided->statements.size()
                ? &decided->statements[portal->source.index]
                : nullptr;
        emitStatement(st, unit, false, 0, refusal->sqlstate, v.decision, v.rule, refusal->message);
        break;
      }
      if (!described && config_.masker && !config_.masker->rules().empty()) {
        // The client never asked what the result looks like; masking needs the column names
        // and types, so ask the server ourselves and keep its answer from the client.
        to_upstream_ += buildDescribePortal(portal_name);
        PendingUnit& describe = pipeline_.push(Kind::kInjectedDescribe);
        describe.name = portal_name;
        describe.portal_entry = entry;
        describe.source = source;
      }
      PendingUnit& unit = pipeline_.push(Kind::kExecute);
      unit.policy_version = config_.policy_version;
      unit.name = portal_name;
      unit.portal_entry = std::move(entry);
      unit.source = source;
      if (portal != nullptr && portal->cursor) {
        // Execute of a DECLAREd cursor's portal fetches from it: audited as that FETCH.
        std::string fetch = "FETCH FORWARD ";
        fetch += e.max_rows > 0 ? std::to_string(e.max_rows) : std::string("ALL");
        fetch += " FROM \"";
        for (char ch : portal_name) fetch += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        fetch += '"';
        unit.facts = config_.analyzer->analyze(fetch);
      } else if (portal != nullptr && portal->source.facts) {
        unit.facts = portal->source.facts;
        unit.statement_index = portal->source.index;
        if (info != nullptr) unit.rule = info->rule;
        // A PREPARE / DECLARE / DEALLOCATE / CLOSE sent by Parse runs here.
        if (portal->source.statement() != nullptr) {
          recordNames(unit, unit.facts, unit.statement_index, unit.statement_index + 1, unit.rule);
        }
      }
      unit.started_us = nowUs();
      if (unit.facts &&
          copiesFromClient(*unit.facts, unit.statement_index, unit.statement_index + 1)) {
        copy_in_unit_ = unit.seq;
      }
      to_upstream_.append(message.raw);
      break;
    }
    case 'S':
      // In copy-in mode the server ignores Sync (for libpq's sake): it gets no answer.
      if (copy_in_) break;
      runs_.startBatch(pipeline_.push(Kind::kSync).seq + 1);
      extended_since_sync_ = false;
      batch_refused_ = false;
      to_upstream_.append(message.raw);
      break;
    case 'C': {
      const auto& c = std::get<Close>(message.body);
      const PendingUnit& unit = pipeline_.push(Kind::kClose);
      if (c.kind == 'S') {
        names_.releaseStatement(unit.seq, 0, std::string(c.name));
      } else {
        names_.releasePortal(unit.seq, 0, std::string(c.name));
      }
      // First in its batch, nothing before it can make the server skip it.
      if (unit.seq == runs_.batchStart()) names_.markCertain(unit.seq);
      to_upstream_.append(message.raw);
      break;
    }
    case 'F': {
      PendingUnit& unit = pipeline_.push(Kind::kFunctionCall);
      unit.policy_version = config_.policy_version;
      unit.name = std::to_string(std::get<FunctionCall>(message.body).function_oid);
      unit.started_us = nowUs();
      policy::Verdict verdict;
      verdict.decision = config_.role == policy::Role::kAdmin ? policy::Decision::kAllow
                                                              : policy::Decision::kBlock;
      verdict.rule = "role:" + std::string(policy::roleName(config_.role));
      verdict.message = "tollgate: fast-path function calls need the admin role";
      forwardOrPoison(message.type, message.raw, "", verdict, unit, verdict.message);
      if (!unit.poisoned) {
        // Which function it runs is not known: it may change tables and types.
        tablesMayHaveChanged();
        catalogMayHaveChanged();
      }
      if (unit.poisoned) {
        emitStatement(nullptr, unit, false, 0, kSqlStateInsufficientPrivilege, verdict.decision,
                      verdict.rule, verdict.message);
      }
      break;
    }
    case 'c':
    case 'f':
      // The client ends the copy: the server reads what follows outside copy-in mode.
      copy_in_ = false;
      copy_in_unit_ = 0;
      to_upstream_.append(message.raw);
      break;
    case 'd':
      to_upstream_.append(message.raw);
      break;
    case 'H':
      to_upstream_.append(message.raw);
      break;
    case 'X':
      to_upstream_.append(message.raw);
      drainThenClose("client terminated the session");
      return CallbackAction::kStop;
    default:
      fatalToClient(kSqlStateProtocolViolation, "tollgate: unexpected client message '" +
                                                    std::string(frontendTypeName(message.type)) +
                                                    "' after startup");
      return CallbackAction::kStop;
  }
  return CallbackAction::kContinue;
}

}  // namespace tollgate::sidecar::postgres
