// PostgreSQL session, results: the masking plan of each result set (from its description, the
// formats in effect and the statement's lineage), rows, and server errors and notices masked.
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/row_rewriter.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

using Kind = PendingUnit::Kind;

}  // namespace

const policy::OutputLineage* PostgresSession::StatementRef::lineage() const {
  if (!facts || index >= facts->statements.size()) return nullptr;
  return &facts->statements[index].lineage;
}

PostgresSession::StatementRef PostgresSession::statementOf(const PendingUnit* unit) const {
  StatementRef ref;
  if (unit == nullptr) return ref;
  const std::string* statement = nullptr;
  switch (unit->kind) {
    case Kind::kQuery:
      ref = StatementRef{unit->facts, unit->statement_index};
      break;
    case Kind::kDescribeStatement:
      statement = &unit->name;
      break;
    case Kind::kDescribePortal:
    case Kind::kInjectedDescribe:
    case Kind::kExecute:
      if (auto pit = portals_.find(unit->name); pit != portals_.end()) {
        statement = &pit->second.statement;
      }
      break;
    default:
      break;
  }
  if (statement != nullptr) {
    if (auto sit = statements_.find(*statement); sit != statements_.end()) {
      ref = StatementRef{sit->second.facts, 0};
    }
  }
  // EXECUTE p / FETCH c return what PREPARE p / DECLARE c defined.
  if (const policy::OutputLineage* l = ref.lineage(); l != nullptr && !l->uses.empty()) {
    auto nit = named_lineage_.find(l->uses);
    ref = nit != named_lineage_.end() ? nit->second : StatementRef{};
  }
  return ref;
}

void PostgresSession::rememberNamedLineage(const policy::QueryFactsPtr& facts) {
  static constexpr size_t kMaxNamed = 4096;
  for (size_t i = 0; i < facts->statements.size(); ++i) {
    const std::string& name = facts->statements[i].lineage.defines;
    if (name.empty()) continue;
    if (named_lineage_.size() >= kMaxNamed && !named_lineage_.contains(name)) {
      named_lineage_.clear();  // a client defining thousands of names: start over
    }
    named_lineage_[name] = StatementRef{facts, i};
  }
}

ResultMasker* PostgresSession::maskerFor(std::string_view raw_description,
                                         const RowDescription* description,
                                         const std::vector<int16_t>& formats,
                                         bool use_description_formats,
                                         const StatementRef& statement) {
  // A plan depends only on the masker (fixed for the session), the description, the formats
  // in effect and the statement's lineage: the same statement run again reuses the previous
  // plan. With the description's own formats, Bind's list plays no part (Describe portal,
  // then Execute).
  static const std::vector<int16_t> kNoFormats;
  const std::vector<int16_t>& key_formats = use_description_formats ? kNoFormats : formats;
  if (result_ && result_use_description_formats_ == use_description_formats &&
      result_formats_ == key_formats && result_statement_ == statement &&
      result_description_ == raw_description) {
    return &*result_;
  }
  std::optional<BackendBody> body;
  if (description == nullptr) {
    auto parsed = parseBackendBody('T', raw_description.substr(kHeaderSize));
    if (!parsed.ok()) return nullptr;
    body = *std::move(parsed);
    description = &std::get<RowDescription>(*body);
  }
  result_.emplace(config_.masker.get(), *description, formats, use_description_formats,
                  statement.lineage());
  result_description_.assign(raw_description.data(), raw_description.size());
  result_formats_ = key_formats;
  result_statement_ = statement;
  result_use_description_formats_ = use_description_formats;
  return &*result_;
}

ResultMasker* PostgresSession::resultMaskerFor(PendingUnit& unit) {
  if (result_ && result_owner_ == &unit) return &*result_;
  if (unit.kind != Kind::kExecute || !config_.masker) return nullptr;
  auto pit = portals_.find(unit.name);
  if (pit == portals_.end()) return nullptr;
  const std::string* raw = &pit->second.description;
  bool use_desc_formats = true;
  if (raw->empty()) {
    auto sit = statements_.find(pit->second.statement);
    if (sit == statements_.end() || sit->second.description.empty()) return nullptr;
    raw = &sit->second.description;
    use_desc_formats = false;
  }
  ResultMasker* rm =
      maskerFor(*raw, nullptr, pit->second.result_formats, use_desc_formats, statementOf(&unit));
  result_owner_ = rm != nullptr ? &unit : nullptr;
  return rm;
}

void PostgresSession::onRowDescription(const BackendMessage& message, const RowDescription& desc) {
  PendingUnit* head = pipeline_.head();
  static const std::vector<int16_t> kNoFormats;
  // While a result streams its masker is in use: plan a describe's answer on the side.
  std::optional<ResultMasker> side_plan;
  const ResultMasker* plan = nullptr;
  if (result_owner_ == nullptr || (head != nullptr && head->kind == Kind::kQuery)) {
    plan = maskerFor(message.raw, &desc, kNoFormats, true, statementOf(head));
  }
  if (plan == nullptr) {
    plan = &side_plan.emplace(config_.masker.get(), desc, kNoFormats, true,
                              statementOf(head).lineage());
  }
  auto forward = [&] {
    if (plan->textColumns().empty()) {
      to_client_.append(message.raw);
      return;
    }
    auto rewritten = rowDescriptionWithTextColumns(message.raw, plan->textColumns());
    to_client_ += rewritten.ok() ? *rewritten : std::string(message.raw);
  };
  if (head == nullptr) {
    forward();
    return;
  }
  switch (head->kind) {
    case Kind::kQuery:
      result_owner_ = head;
      forward();
      return;
    case Kind::kDescribeStatement:
      statements_[head->name].description.assign(message.raw.data(), message.raw.size());
      forward();
      pipeline_.pop();
      return;
    case Kind::kDescribePortal:
      portals_[head->name].description.assign(message.raw.data(), message.raw.size());
      forward();
      pipeline_.pop();
      return;
    case Kind::kInjectedDescribe:
      portals_[head->name].description.assign(message.raw.data(), message.raw.size());
      pipeline_.pop();
      return;
    default:
      forward();
  }
}

void PostgresSession::onDataRow(const BackendMessage& message, const DataRow& row) {
  PendingUnit* head = pipeline_.head();
  ResultMasker* rm = head != nullptr ? resultMaskerFor(*head) : nullptr;
  if (head != nullptr) ++head->rows;
  if (rm != nullptr && rm->active()) {
    std::string hit;
    uint64_t before = head->values_masked;
    if (rm->maskRow(row, &scratch_, &head->values_masked, &hit)) {
      to_client_ += scratch_;
      if (config_.stats) {
        config_.stats->values_masked.Increment(static_cast<double>(head->values_masked - before));
      }
      return;
    }
  }
  to_client_.append(message.raw);
}

void PostgresSession::forwardMasked(const BackendMessage& message) {
  const auto* err = std::get_if<ErrorResponse>(&message.body);
  const auto* notice = std::get_if<NoticeResponse>(&message.body);
  const NoticeFields* fields = err ? &err->fields : notice ? &notice->fields : nullptr;
  if (fields == nullptr || !config_.masker || !config_.masker->hasDetectorRules()) {
    to_client_.append(message.raw);
    return;
  }
  ErrorFields f = readErrorFields(*fields);
  bool changed = false;
  for (std::string* s : {&f.message, &f.detail, &f.hint}) {
    if (auto m = config_.masker->maskText(*s)) {
      *s = *std::move(m);
      changed = true;
    }
  }
  if (!changed) {
    to_client_.append(message.raw);
    return;
  }
  to_client_ += err ? buildErrorResponse(f) : buildNoticeResponse(f);
}

}  // namespace tollgate::sidecar::postgres
