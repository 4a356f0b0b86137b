// PostgreSQL session, relay phase, the server's side: each response paired with the statement
// it answers (errors, command completion and its event, COPY out, notifications, fast-path
// results); statements are decided in session_relay.cc, rows masked in session_results.cc.
#include <algorithm>
#include <charconv>

#include "absl/strings/ascii.h"
#include "policy/mask/json_fields.h"
#include "policy/sql/statement_table.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

using Kind = PendingUnit::Kind;

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

// The SQLSTATE the client gets for a unit the sidecar refused.
std::string blockCode(const PendingUnit& unit) {
  return unit.block_code.empty() ? std::string(kSqlStateInsufficientPrivilege) : unit.block_code;
}

}  // namespace

void PostgresSession::onError(const BackendMessage& message, const ErrorResponse& error) {
  PendingUnit* head = pipeline_.head();
  const size_t failed_at = head != nullptr ? head->statement_index : 0;
  result_owner_ = nullptr;
  copy_out_ = false;
  copy_masker_.reset();  // a row the failed COPY left unfinished is not sent
  if (batch_error_code_.empty()) {
    batch_error_code_ =
        head != nullptr && head->poisoned ? blockCode(*head) : readErrorFields(error.fields).code;
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
        {"ERROR", blockCode(*head), head->block_message, "", "", head->block_routine});
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
  // An Execute opens the implicit transaction its batch's Sync ends (a WITH HOLD cursor's query
  // and deferred checks run there).
  if (success && unit.kind == Kind::kExecute) implicit_transaction_ran_ = true;
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
// becoming a JSON string; any other payload the detectors. A payload that reads like JSON
// without being it (cut short at pg_notify's 8000 bytes, text around it, JSON inside a JSON
// string) with a key a column rule names is masked whole with that rule.
std::optional<std::string> PostgresSession::maskPayload(std::string_view text) const {
  const policy::Masker& masker = *config_.masker;
  const size_t first = text.find_first_not_of(" \t\r\n");
  const bool object = first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
  bool json = false;
  std::optional<std::string> out;
  if (object) {
    policy::MaskerJsonValueMasker fields(masker);
    std::string rewritten;
    switch (policy::maskJsonFields(text, fields, &rewritten)) {
      case policy::JsonRewrite::kRewritten:
        out = std::move(rewritten);
        json = true;
        break;
      case policy::JsonRewrite::kUnchanged:
        json = true;
        break;
      case policy::JsonRewrite::kNotJson:
        break;
    }
  }
  if (masker.hasColumnRules()) {
    if (const policy::MaskingRuleSpec* rule = policy::quotedKeyRule(masker, text, json)) {
      return masker.maskValue(policy::ColumnPlan{rule, false}, text).value_or(std::string(text));
    }
  }
  if (json) return out;
  return masker.maskText(text);
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
      if (txn_status_ == 'I') {
        transaction_may_quote_ = uncommitted_changes_ = implicit_transaction_ran_ = false;
      }
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
    case 'G':
      // Copy-in mode: until the client's CopyDone or CopyFail, the server ignores its Syncs.
      if (head != nullptr && head->seq == copy_in_unit_) copy_in_ = true;
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
    case 'R':
    case 'K':
    case 'v':
      // Login messages after login: PostgreSQL never sends them, and a second key would
      // route the client's cancels elsewhere. PgBouncer drops such a server too.
      fatalToClient(kSqlStateProtocolViolation,
                    "tollgate: resource " + config_.resource->name + " sent a login message ('" +
                        std::string(1, message.type) + "') after login; the session is closed");
      return CallbackAction::kStop;
    default:
      to_client_.append(message.raw);
      return CallbackAction::kContinue;
  }
}

}  // namespace tollgate::sidecar::postgres
