// PostgreSQL session, relay phase: decide each client statement before it reaches the server,
// and keep responses paired with the statements they answer (masking: session_results.cc).
#include <algorithm>
#include <charconv>

#include "absl/strings/ascii.h"
#include "policy/mask/json_fields.h"
#include "policy/sql/statement_table.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

using Kind = PendingUnit::Kind;

std::string buildParse(std::string_view name, std::string_view query) {
  std::string out;
  MessageWriter w(&out, 'P');
  w.cstring(name).cstring(query).i16(0);
  w.finish();
  return out;
}

std::string buildDescribePortal(std::string_view portal) {
  std::string out;
  MessageWriter w(&out, 'D');
  w.u8('P').cstring(portal);
  w.finish();
  return out;
}

std::string buildCopyData(std::string_view data) {
  std::string out;
  MessageWriter w(&out, 'd');
  w.bytes(data);
  w.finish();
  return out;
}

// Row count at the end of a command tag ("SELECT 5", "INSERT 0 3", "COPY 10").
uint64_t tagRows(std::string_view tag) {
  auto sp = tag.rfind(' ');
  if (sp == std::string_view::npos) return 0;
  uint64_t n = 0;
  std::from_chars(tag.data() + sp + 1, tag.data() + tag.size(), n);
  return n;
}

bool extendedUnit(Kind k) {
  return k != Kind::kQuery && k != Kind::kSync && k != Kind::kFunctionCall;
}

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
  unit.facts = facts;
  unit.started_us = started_us;
  unit.approval_id = approval_id;
  if (!approval_id.empty() && verdict.decision == policy::Decision::kAllow) {
    unit.approval_message = verdict.message;
  }
  forwardOrPoison('Q', raw, "", verdict, unit, blockMessage(verdict, config_.hold_reviews));
  if (!unit.poisoned) recordNames(unit, facts, 0, facts->statements.size(), verdict.rule);
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
  NamedStatement& named = names_.defineStatement(unit.seq, 0, unit.name);
  named.source = StatementRef{facts, 0};
  named.rule = verdict.rule;
  forwardOrPoison('P', raw, name, verdict, unit, blockMessage(verdict, config_.hold_reviews));
  if (unit.poisoned) {
    const policy::StatementFacts* st =
        facts->statements.empty() ? nullptr : &facts->statements.front();
    emitStatement(st, unit, false, 0, kSqlStateInsufficientPrivilege, verdict.decision,
                  verdict.rule, verdict.message);
  }
}

CallbackAction PostgresSession::onClientMessage(const FrontendMessage& message) {
  if (discard_to_sync_) {
    // As the server does after an error in an extended-protocol batch: everything up to the
    // Sync is dropped unseen (nothing of it would run).
    if (message.type != 'S' && message.type != 'X') return CallbackAction::kContinue;
    discard_to_sync_ = false;
  }
  // Statements run: simple queries, executes of a portal, fast-path calls.
  if (message.type == 'Q' || message.type == 'E' || message.type == 'F') ++statement_count_;
  switch (message.type) {
    case 'Q': {
      const auto& q = std::get<Query>(message.body);
      auto facts = withExecutesResolved(analyze(q.sql));
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
      const auto& parse = std::get<Parse>(message.body);
      auto facts = withExecutesResolved(analyze(parse.query));
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
      }
      to_upstream_.append(message.raw);
      break;
    }
    case 'E': {
      const auto& e = std::get<Execute>(message.body);
      std::string portal_name(e.portal);
      std::shared_ptr<NamedPortal> entry = names_.portalEntry(portal_name);
      const NamedPortal* portal = entry.get();
      const NamedStatement* info =
          portal != nullptr && !portal->cursor ? portal->statement_entry.get() : nullptr;
      const StatementRef source = resolve(sourceOf(entry));
      bool described =
          portal != nullptr && (!portal->description.empty() || portal->no_data ||
                                (info != nullptr && (!info->description.empty() || info->no_data)));
      // A prepared statement was decided at its Parse; past the audit backlog its Execute is
      // refused too (decided here), since its event could not be recorded.
      const policy::QueryFacts* decided =
          portal != nullptr && !portal->cursor ? portal->source.facts.get() : nullptr;
      if (refusedForAuditBacklog(decided)) {
        PendingUnit& unit = pipeline_.push(Kind::kExecute);
        unit.name = portal_name;
        unit.portal_entry = std::move(entry);
        unit.source = source;
        unit.started_us = nowUs();
        const policy::Verdict v = auditBacklogVerdict();
        forwardOrPoison('E', message.raw, "", v, unit, v.message);
        const policy::StatementFacts* st =
            decided != nullptr && portal->source.index < decided->statements.size()
                ? &decided->statements[portal->source.index]
                : nullptr;
        emitStatement(st, unit, false, 0, kSqlStateInsufficientPrivilege, v.decision, v.rule,
                      v.message);
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
      to_upstream_.append(message.raw);
      break;
    }
    case 'S':
      pipeline_.push(Kind::kSync);
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
      to_upstream_.append(message.raw);
      break;
    }
    case 'F': {
      PendingUnit& unit = pipeline_.push(Kind::kFunctionCall);
      unit.name = std::to_string(std::get<FunctionCall>(message.body).function_oid);
      unit.started_us = nowUs();
      policy::Verdict verdict;
      verdict.decision = config_.role == policy::Role::kAdmin ? policy::Decision::kAllow
                                                              : policy::Decision::kBlock;
      verdict.rule = "role:" + std::string(policy::roleName(config_.role));
      verdict.message = "tollgate: fast-path function calls need the admin role";
      forwardOrPoison(message.type, message.raw, "", verdict, unit, verdict.message);
      if (unit.poisoned) {
        emitStatement(nullptr, unit, false, 0, kSqlStateInsufficientPrivilege, verdict.decision,
                      verdict.rule, verdict.message);
      }
      break;
    }
    case 'H':
    case 'd':
    case 'c':
    case 'f':
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

void PostgresSession::onError(const BackendMessage& message, const ErrorResponse& error) {
  PendingUnit* head = pipeline_.head();
  const size_t failed_at = head != nullptr ? head->statement_index : 0;
  result_owner_ = nullptr;
  copy_out_ = false;
  copy_masker_.reset();  // a row the failed COPY left unfinished is not sent
  if (batch_error_code_.empty()) {
    batch_error_code_ = head != nullptr && head->poisoned
                            ? std::string(kSqlStateInsufficientPrivilege)
                            : readErrorFields(error.fields).code;
    const bool sqlstate =
        batch_error_code_.size() == 5 &&
        std::all_of(batch_error_code_.begin(), batch_error_code_.end(),
                    [](char c) { return absl::ascii_isdigit(c) || absl::ascii_isupper(c); });
    if (!sqlstate) batch_error_code_ = "XX000";
  }
  if (head == nullptr) {
    forwardMasked(message);
    return;
  }
  if (head->poisoned) {
    to_client_ += buildErrorResponse(
        {"ERROR", std::string(kSqlStateInsufficientPrivilege), head->block_message, "", ""});
  } else {
    forwardMasked(message);
    ErrorFields f = readErrorFields(error.fields);
    if (head->kind == Kind::kQuery || head->kind == Kind::kExecute) {
      finishStatement(*head, false, "", f.code);
    } else if (head->kind == Kind::kFunctionCall) {
      emitStatement(nullptr, *head, false, 0, f.code, policy::Decision::kAllow, head->rule, "");
    }
  }
  head->error = true;
  const uint64_t failed = head->seq;
  if (extendedUnit(head->kind)) {
    pipeline_.pop();
    pipeline_.skipToSync([](PendingUnit&) {});
    // Names the failed unit and the skipped ones defined or dropped are as they were.
    names_.undo(failed, 0, pipeline_.head() != nullptr ? pipeline_.head()->seq : UINT64_MAX);
    // The server now ignores every message until the client's next Sync. When that Sync has
    // not come yet (the client sent Flush and read the error first, as pipelining drivers
    // do), what the client sends before it gets no answer: expecting one would pair later
    // answers with the wrong statements, masking plans included.
    if (pipeline_.head() == nullptr) discard_to_sync_ = true;
  } else if (head->kind == Kind::kQuery) {
    // The failed statement and those after it in the query string did not run.
    names_.undo(failed, failed_at, failed + 1);
  }
}

void PostgresSession::finishStatement(PendingUnit& unit, bool success, const std::string& tag,
                                      std::string_view error_code) {
  const policy::StatementFacts* st = nullptr;
  if (unit.facts && unit.statement_index < unit.facts->statements.size()) {
    st = &unit.facts->statements[unit.statement_index];
  }
  uint64_t rows = tag.empty() ? unit.rows : std::max(unit.rows, tagRows(tag));
  if (config_.stats) config_.stats->rows.Increment(static_cast<double>(unit.rows));
  // What it deferred (a WITH HOLD cursor's query, a deferred constraint) runs when its
  // transaction commits: at a later statement, COMMIT or the Sync of an implicit transaction.
  if (success && !transaction_may_quote_) transaction_may_quote_ = errorsMayQuoteMaskedData(&unit);
  // A change the server has not committed yet: in a transaction block, or in the implicit
  // transaction of an extended-protocol batch until its Sync.
  if (success && st != nullptr && st->cls != policy::StatementClass::kRead &&
      st->cls != policy::StatementClass::kTransaction &&
      (txn_status_ != 'I' || unit.kind == Kind::kExecute)) {
    uncommitted_changes_ = true;
  }
  if (st != nullptr) {
    // A procedure can end the transaction it runs in only when its CALL is a statement of its
    // own: an Execute, or the only statement of a Query (a multi-statement Query is one
    // implicit transaction block, in which a procedure cannot COMMIT).
    noteBatchChange(*st, success,
                    unit.kind == Kind::kExecute || unit.facts->statements.size() == 1);
    if (success) noteTypeChange(*st);
  }
  // COMMIT (or PREPARE TRANSACTION) of a failed transaction block rolls it back: the server
  // says so in the tag only.
  const bool rolled_back = success && st != nullptr && tag == "ROLLBACK" &&
                           (st->type == "commit" || st->type == "prepare_transaction");
  emitStatement(st, unit, success, rows, error_code, policy::Decision::kAllow, unit.rule,
                rolled_back ? "the transaction had failed: the server rolled it back, none of "
                              "its changes stayed"
                            : "");
  unit.rows = 0;
  unit.values_masked = 0;
  unit.started_us = nowUs();
  ++unit.statement_index;
}

// A notification comes from any session (a trigger's pg_notify('ch', row_to_json(NEW)::text)):
// no statement of this job says what it holds. A JSON payload gets the column rules on its
// field names (a "cvv" field is redacted) and the detectors on its values, a masked number
// becoming a JSON string; any other payload the detectors.
std::optional<std::string> PostgresSession::maskPayload(std::string_view text) const {
  const size_t first = text.find_first_not_of(" \t\r\n");
  const bool object = first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
  if (!object) return config_.masker->maskText(text);
  policy::MaskerJsonValueMasker fields(*config_.masker);
  return policy::maskJsonOrText(*config_.masker, text, fields, nullptr);
}

void PostgresSession::onFunctionCallResponse(const BackendMessage& message,
                                             const FunctionCallResponse& response) {
  PendingUnit* head = pipeline_.head();
  std::optional<std::string> masked;
  // A fast-path result (lo_read of a large object, ...) has no column: detector rules scan its
  // bytes, as they scan a bytea value.
  if (response.value && config_.masker && config_.masker->hasDetectorRules()) {
    masked = config_.masker->maskValue(policy::ColumnPlan{nullptr, true}, *response.value);
  }
  if (head != nullptr && head->kind == Kind::kFunctionCall) {
    if (masked) ++head->values_masked;
    emitStatement(nullptr, *head, true, 0, "", policy::Decision::kAllow, head->rule, "");
  }
  if (!masked) {
    to_client_.append(message.raw);
    return;
  }
  if (config_.stats) config_.stats->values_masked.Increment();
  std::string out;
  MessageWriter w(&out, 'V');
  w.i32(static_cast<int32_t>(masked->size())).bytes(*masked);
  w.finish();
  to_client_ += out;
}

bool PostgresSession::startCopyOut(const PendingUnit* head, const CopyResponse& response) {
  copy_out_ = true;
  copy_masker_.reset();
  const policy::Masker* masker = config_.masker.get();
  if (masker == nullptr || (!masker->hasColumnRules() && !masker->hasDetectorRules())) return true;
  // decide() refused what cannot be read back; this holds the line should the server send
  // something else (a statement the sidecar never saw defined, binary rows).
  const policy::StatementFacts* st = statementOf(head).statement();
  if (st == nullptr || !st->copy_out || !st->copy_out->readable ||
      st->copy_out->kind == policy::CopyOutFormat::Kind::kBinary || response.format != 0 ||
      policy::sql::isAsciiEmbeddingEncoding(
          st->copy_out->encoding.empty() ? client_encoding_ : st->copy_out->encoding)) {
    fatalToClient(kSqlStateProtocolViolation,
                  "tollgate: the rows of this COPY TO STDOUT from resource " +
                      config_.resource->name + " cannot be masked; the session is closed");
    return false;
  }
  copy_masker_.emplace(masker, *st->copy_out, st->lineage.known ? &st->lineage : nullptr,
                       catalog_.get());
  return true;
}

CallbackAction PostgresSession::onServerMessage(const BackendMessage& message) {
  PendingUnit* head = pipeline_.head();
  switch (message.type) {
    case 'T':
      onRowDescription(message, std::get<RowDescription>(message.body));
      return CallbackAction::kContinue;
    case 'D':
      onDataRow(message, std::get<DataRow>(message.body));
      return CallbackAction::kContinue;
    case 'C':
    case 'I':
    case 's': {
      std::string tag;
      if (const auto* cc = std::get_if<CommandComplete>(&message.body)) tag = std::string(cc->tag);
      if (head != nullptr && (head->kind == Kind::kQuery || head->kind == Kind::kExecute)) {
        finishStatement(*head, true, tag, "");
        if (head->kind == Kind::kExecute) pipeline_.pop();
      }
      result_owner_ = nullptr;
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    }
    case 'E':
      onError(message, std::get<ErrorResponse>(message.body));
      return CallbackAction::kContinue;
    case 'Z':
      txn_status_ = std::get<ReadyForQuery>(message.body).status;
      settleBatch();
      if (txn_status_ == 'I') settleTypeChanges();
      if (txn_status_ == 'I') transaction_may_quote_ = uncommitted_changes_ = false;
      if (head != nullptr) pipeline_.pop();
      settleNames();
      result_owner_ = nullptr;
      copy_out_ = false;
      copy_masker_.reset();
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    case '1':
    case '2':
    case '3':
      if (head != nullptr && extendedUnit(head->kind)) pipeline_.pop();
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    case 'n':
      if (head != nullptr) {
        if (head->kind == Kind::kDescribeStatement && head->statement_entry) {
          head->statement_entry->no_data = true;
        }
        if ((head->kind == Kind::kDescribePortal || head->kind == Kind::kInjectedDescribe) &&
            head->portal_entry) {
          head->portal_entry->no_data = true;
        }
        bool injected = head->kind == Kind::kInjectedDescribe;
        pipeline_.pop();
        if (injected) return CallbackAction::kContinue;
      }
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    case 'H':
      if (!startCopyOut(head, std::get<CopyResponse>(message.body))) return CallbackAction::kStop;
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    case 'd': {
      const auto& data = std::get<CopyData>(message.body).data;
      if (copy_masker_) {
        const uint64_t masked_before = copy_masker_->valuesMasked();
        const uint64_t rows_before = copy_masker_->rows();
        const bool rewritten = copy_masker_->maskData(data, &scratch_);
        const uint64_t masked = copy_masker_->valuesMasked() - masked_before;
        if (head != nullptr) {
          head->rows += copy_masker_->rows() - rows_before;
          head->values_masked += masked;
        }
        if (config_.stats && masked > 0) {
          config_.stats->values_masked.Increment(static_cast<double>(masked));
        }
        if (rewritten) {
          if (!scratch_.empty()) to_client_ += buildCopyData(scratch_);
          return CallbackAction::kContinue;
        }
      } else if (head != nullptr && copy_out_) {
        ++head->rows;
      }
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    }
    case 'c':
      if (copy_masker_) {
        std::string rest = copy_masker_->finish();
        if (!rest.empty()) to_client_ += buildCopyData(rest);
      }
      copy_out_ = false;
      copy_masker_.reset();
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    case 'N':
      forwardMasked(message);
      return CallbackAction::kContinue;
    case 'V':
      onFunctionCallResponse(message, std::get<FunctionCallResponse>(message.body));
      return CallbackAction::kContinue;
    case 'S':
      return relayParameterStatus(message, std::get<ParameterStatus>(message.body))
                 ? CallbackAction::kContinue
                 : CallbackAction::kStop;
    case 'A': {
      const auto& n = std::get<NotificationResponse>(message.body);
      if (config_.masker) {
        if (auto m = maskPayload(n.payload)) {
          std::string out;
          MessageWriter w(&out, 'A');
          w.i32(n.process_id).cstring(n.channel).cstring(*m);
          w.finish();
          to_client_ += out;
          return CallbackAction::kContinue;
        }
      }
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
    }
    default:
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
  }
}

}  // namespace tollgate::sidecar::postgres
