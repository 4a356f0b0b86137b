// PostgreSQL session, results: which statement a result belongs to (prepared names, EXECUTE),
// the masking plan of each result set (from its description, the formats in effect and the
// statement's lineage), rows, and server errors and notices masked.
#include <algorithm>
#include <optional>
#include <string>

#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/composite_masking.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/row_rewriter.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

using Kind = PendingUnit::Kind;

}  // namespace

StatementRef PostgresSession::statementOf(const PendingUnit* unit) const {
  if (unit == nullptr) return StatementRef{};
  switch (unit->kind) {
    case Kind::kQuery: {
      const size_t i = unit->statement_index;
      if (i < unit->resolved.size() && (unit->resolved[i].facts || unit->resolved[i].opaque)) {
        return unit->resolved[i];
      }
      return resolve(StatementRef{unit->facts, i});
    }
    case Kind::kDescribeStatement:
    case Kind::kDescribePortal:
    case Kind::kInjectedDescribe:
    case Kind::kExecute:
      return unit->source;
    default:
      return StatementRef{};
  }
}

StatementRef PostgresSession::resolve(StatementRef ref) const {
  // EXECUTE p / FETCH c return what p / c stand for now (a portal may run an EXECUTE or a
  // FETCH, a protocol-prepared statement run by EXECUTE a FETCH).
  for (int hop = 0;; ++hop) {
    const policy::StatementFacts* st = ref.statement();
    if (st == nullptr) return ref;
    // EXPLAIN ANALYZE EXECUTE p runs p, but returns its plan.
    if (st->lineage.uses.empty() || st->type == "explain") {
      return explainMayShowMaskedData(*st) ? StatementRef::unknown() : ref;
    }
    // Past the names followed (as NamedRuns::namedRun()), it may return anything.
    if (hop == NamedRuns::kMaxHops) return StatementRef::unknown();
    // What its arguments carry may be in any column (PREPARE p(text) AS SELECT $1 AS note;
    // EXECUTE p(card_code(1))).
    if (argumentsMayCarryMaskedData(*st)) return StatementRef::unknown();
    ref = namedSource(*st);
  }
}

bool PostgresSession::mayCarryMaskedData(const policy::StatementFacts& st,
                                         const std::vector<std::string>& sources,
                                         bool whole) const {
  if (!config_.masker || !config_.masker->hasColumnRules()) return false;
  // Through what the functions it calls return (withFunctionsResolved() renames them).
  whole = whole || st.lineage.opaque;
  std::vector<std::string> names;
  for (const std::string& s : sources) {
    for (std::string& n : st.lineage.closure(s, &whole)) names.push_back(std::move(n));
  }
  if (config_.masker->planColumn(names, whole).column_rule != nullptr) return true;
  // A value of a composite type with a field a rule names (card_row(1)::text).
  return catalog_ != nullptr && ruleCarriedBy(*catalog_, names) != nullptr;
}

bool PostgresSession::explainMayShowMaskedData(const policy::StatementFacts& st) const {
  // A plan shows the constants the planner folded in: what an immutable function returned,
  // what EXPLAIN EXECUTE p(card_code(1)) passed.
  if (st.type != "explain" || (st.functions.empty() && !st.lineage.opaque)) return false;
  std::vector<std::string> calls;
  for (const std::string& f : st.functions) {
    policy::anyReading(f, [&](std::string_view name) {
      calls.push_back(policy::callName(name));
      calls.push_back(policy::callValueName(name));  // of its result type
      return false;
    });
  }
  return mayCarryMaskedData(st, calls, false);
}

bool PostgresSession::argumentsMayCarryMaskedData(const policy::StatementFacts& st) const {
  const policy::ColumnLineage& args = st.lineage.arguments;
  if (args.sources.empty() && !args.whole_row) return false;
  return mayCarryMaskedData(st, args.sources, args.whole_row);
}

StatementRef PostgresSession::namedSource(const policy::StatementFacts& st) const {
  const std::optional<NamedRun> step = runs_.namedStep(st);
  // Unknown: defined where the sidecar could not see.
  return step && step->source->facts ? *step->source : StatementRef::unknown();
}

void PostgresSession::recordNames(PendingUnit& unit, const policy::QueryFactsPtr& facts,
                                  size_t from, size_t to, const std::string& rule) {
  for (size_t i = from; i < to && i < facts->statements.size(); ++i) {
    const policy::StatementFacts& st = facts->statements[i];
    const policy::OutputLineage& l = st.lineage;
    // EXECUTE p / FETCH c run what p / c stand for here, before the statements after it in the
    // query (or pipelined behind it) redefine them.
    if (!l.uses.empty() && unit.kind == Kind::kQuery) {
      if (unit.resolved.size() < facts->statements.size()) {
        unit.resolved.resize(facts->statements.size());
      }
      unit.resolved[i] = resolve(StatementRef{facts, i});
    }
    // Most statements name nothing: no string compares for them (this runs per Query and per
    // Execute).
    if (l.defines.empty() && l.releases.empty() && !l.releases_all) continue;
    if (!l.defines.empty() && st.type == "prepare") {
      NamedStatement& named = names_.defineStatement(unit.seq, i, l.defines);
      named.source = StatementRef{facts, i};
      named.rule = rule;
      named.approved = !unit.approval_id.empty();
      named.audit_sync = config_.audit_sync;
      continue;
    }
    if (!l.defines.empty()) {  // DECLARE CURSOR
      NamedPortal& portal = names_.definePortal(unit.seq, i, l.defines);
      portal.source = StatementRef{facts, i};
      portal.cursor = true;
      portal.holds = l.holds;
      portal.approved = !unit.approval_id.empty();
      continue;
    }
    const bool discard_all = st.type == "discard";  // releases_all: DISCARD ALL, not PLANS
    if (st.type == "deallocate" || discard_all) {
      if (l.releases_all) {
        names_.releaseAllStatements(unit.seq, i);
      } else {
        names_.releaseStatement(unit.seq, i, l.releases);
      }
    }
    if (st.type == "close" || discard_all) {
      if (l.releases_all) {
        names_.releaseAllPortals(unit.seq, i);
      } else {
        names_.releasePortal(unit.seq, i, l.releases);
      }
    }
  }
}

policy::QueryFactsPtr PostgresSession::withExecutesResolved(policy::QueryFactsPtr facts) const {
  std::shared_ptr<policy::QueryFacts> resolved;
  for (size_t i = 0; i < facts->statements.size(); ++i) {
    const policy::StatementFacts& st = facts->statements[i];
    // EXPLAIN EXECUTE p plans p (the planner runs its immutable functions), and with ANALYZE
    // runs it as EXECUTE does.
    const std::string& name = NamedRuns::statementRun(st);
    if (name.empty()) continue;
    // A PREPARE earlier in the same query string, else the table.
    const policy::StatementFacts* target = nullptr;
    for (size_t j = i; j-- > 0 && target == nullptr;) {
      const policy::StatementFacts& prior = facts->statements[j];
      if (prior.type == "prepare" && prior.lineage.defines == name) target = &prior;
    }
    bool may_revert = false;
    if (target == nullptr) {
      const NamedStatement* named = names_.statement(name);
      if (named != nullptr) target = named->source.statement();
      // An unanswered statement's redefinition of it may still be undone: what runs it is
      // refused (NamedRuns::namedStep()), what only plans it is not known.
      may_revert = runs_.statementMayRevert(name);
    }
    const bool known =
        target != nullptr && target->type != "execute" && !(may_revert && st.lineage.uses.empty());
    // EXECUTE stays "other" (admin only); EXPLAIN EXECUTE of a statement prepared where the
    // session could not see (dynamic SQL) has a plan that may show any value.
    if (!known && st.type != "explain") continue;
    if (!resolved) resolved = std::make_shared<policy::QueryFacts>(*facts);
    policy::StatementFacts& r = resolved->statements[i];
    if (!known) {
      r.lineage.opaque = true;
      continue;
    }
    if (st.type == "explain") {
      // What p's functions return, for explainMayShowMaskedData() (the functions are merged
      // below when it runs p).
      r.lineage.renames.insert(r.lineage.renames.end(), target->lineage.renames.begin(),
                               target->lineage.renames.end());
      if (st.lineage.uses.empty()) {  // plans it only
        for (const std::string& f : target->functions) policy::addLineageName(&r.functions, f);
        continue;
      }
      // It runs p, but its result is the plan: its errors are judged by its own facts, so p's
      // columns count there.
      for (const std::string& c : target->columns) policy::addLineageName(&r.columns, c);
      r.row_reference = r.row_reference || target->row_reference;
    }
    // PREPARE p(text) AS UPDATE log SET msg = $1; EXECUTE p((SELECT cvv ...)): the values it
    // passes are stored (masking.copies).
    const policy::ColumnLineage& args = st.lineage.arguments;
    if (target->lineage.stores_parameters && (!args.sources.empty() || args.whole_row)) {
      r.lineage.stored.emplace_back(std::string(), args);
    }
    // It runs the statement with its arguments, which may call functions (the server allows no
    // sub-select there): EXECUTE p(pg_read_file(...)) is as admin as its argument.
    if (policy::classSeverity(target->cls) >= policy::classSeverity(st.cls)) r.cls = target->cls;
    for (const std::string& t : target->reads) policy::addLineageName(&r.reads, t);
    for (const std::string& t : target->writes) policy::addLineageName(&r.writes, t);
    for (const std::string& f : target->functions) policy::addLineageName(&r.functions, f);
    r.calls_table_changes = st.calls_table_changes || target->calls_table_changes;
    r.fires_table_changes = st.fires_table_changes || target->fires_table_changes;
    r.has_where = st.has_where && target->has_where;
    r.upserts = st.upserts || target->upserts;
    for (const std::string& t : target->inner_types) policy::addLineageName(&r.inner_types, t);
    // A protocol-prepared statement is its own type; a PREPARE lists its statement already.
    if (target->type != "prepare" && target->type != "select" &&
        std::find(r.inner_types.begin(), r.inner_types.end(), target->type) ==
            r.inner_types.end()) {
      r.inner_types.push_back(target->type);
    }
  }
  return resolved ? resolved : facts;
}

void PostgresSession::settleNames() {
  const uint64_t next = pipeline_.head() != nullptr ? pipeline_.head()->seq : UINT64_MAX;
  names_.settle(next);
  if (txn_status_ == 'I') names_.endTransaction(next);
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
                  statement.lineage(), catalog_.get());
  result_description_.assign(raw_description.data(), raw_description.size());
  result_formats_ = key_formats;
  result_statement_ = statement;
  result_use_description_formats_ = use_description_formats;
  return &*result_;
}

ResultMasker* PostgresSession::resultMaskerFor(PendingUnit& unit) {
  if (result_ && result_owner_ == &unit) return &*result_;
  if (unit.kind != Kind::kExecute || !config_.masker) return nullptr;
  const NamedPortal* portal = unit.portal_entry.get();
  if (portal == nullptr) return nullptr;
  const std::string* raw = &portal->description;
  bool use_desc_formats = true;
  if (raw->empty()) {
    const NamedStatement* st = portal->cursor ? nullptr : portal->statement_entry.get();
    if (st == nullptr || st->description.empty()) return nullptr;
    raw = &st->description;
    use_desc_formats = false;
  }
  ResultMasker* rm =
      maskerFor(*raw, nullptr, portal->result_formats, use_desc_formats, statementOf(&unit));
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
                              statementOf(head).lineage(), catalog_.get());
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
      if (head->statement_entry) {
        head->statement_entry->description.assign(message.raw.data(), message.raw.size());
        head->statement_entry->told_text_columns = plan->textColumns();
        head->statement_entry->stale.reset();  // the client now has the current description
      }
      forward();
      pipeline_.pop();
      return;
    case Kind::kDescribePortal:
    case Kind::kInjectedDescribe:
      if (head->portal_entry) {
        head->portal_entry->description.assign(message.raw.data(), message.raw.size());
        if (head->kind == Kind::kDescribePortal) {
          head->portal_entry->told_text_columns = plan->textColumns();
          head->portal_entry->stale.reset();
        }
      }
      if (head->kind == Kind::kDescribePortal) forward();
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

bool PostgresSession::errorsMayQuoteMaskedData(const PendingUnit* unit) const {
  if (unit == nullptr || !config_.masker || !config_.masker->hasColumnRules()) return false;
  if (unit->kind != Kind::kQuery && unit->kind != Kind::kExecute) return false;
  const StatementRef ref = statementOf(unit);
  if (ref.opaque) return true;  // it may read anything
  const policy::StatementFacts* st = ref.statement();
  // COMMIT runs what the transaction deferred (a WITH HOLD cursor's query, deferred
  // constraints), so its errors may quote any data the transaction read or wrote.
  if (st != nullptr && (st->type == "commit" || st->type == "prepare_transaction")) return true;
  // The columns named (through the statement's renames), the fields of composite columns
  // among them ((card).cvv), then the tables written.
  auto mayQuote = [this](const policy::StatementFacts* s) {
    return s != nullptr && (mayCarryMaskedData(*s, s->columns, s->row_reference) ||
                            writtenRowsMayCarryMaskedData(*s));
  };
  // What the unit's own text names counts too: EXECUTE p's arguments, besides what p runs
  // (EXECUTE p((get_cvv() || 'x')::int) quotes what get_cvv() read).
  const policy::StatementFacts* own =
      unit->facts && unit->statement_index < unit->facts->statements.size()
          ? &unit->facts->statements[unit->statement_index]
          : nullptr;
  return mayQuote(st) || (own != st && mayQuote(own));
}

bool PostgresSession::writtenRowsMayCarryMaskedData(const policy::StatementFacts& st) const {
  if (st.writes.empty()) return false;
  // INSERT, UPDATE, DELETE, MERGE, COPY FROM (a TRUNCATE writes no row).
  constexpr int kRowWrites =
      TypeCatalog::kInsertEvent | TypeCatalog::kUpdateEvent | TypeCatalog::kDeleteEvent;
  return tableRowsMayCarryMaskedData(st.writes, (TypeCatalog::rowEvents(st) & kRowWrites) != 0);
}

bool PostgresSession::tableRowsMayCarryMaskedData(const std::vector<std::string>& relations,
                                                  bool unknown) const {
  if (catalog_ == nullptr || tables_may_have_changed_) return true;
  // A write through an updatable view writes the tables it reads.
  bool exhausted = false;
  const std::vector<std::string> written = catalog_->relationsWritten(relations, &exhausted);
  if (exhausted) return true;
  std::vector<std::string> columns;
  std::vector<std::string> tables;
  for (const std::string& relation : written) {
    tables.clear();
    if (catalog_->addTableReadings(relation, &tables)) {
      for (const std::string& table : tables) catalog_->tableColumns(table, &columns);
    } else if (catalog_->views(relation).empty() && unknown) {
      return true;
    }
  }
  if (columns.empty()) return false;
  return config_.masker->planColumn(columns, false).column_rule != nullptr ||
         ruleCarriedBy(*catalog_, columns) != nullptr;
}

bool PostgresSession::namesTableWithMaskedData(const NoticeFields& fields) const {
  if (!config_.masker || !config_.masker->hasColumnRules()) return false;
  const std::optional<std::string_view> table = fields.get('t');
  if (!table || table->empty()) return false;
  // By its name in any schema, as the catalog holds tables.
  return tableRowsMayCarryMaskedData({std::string(*table)}, false);
}

void PostgresSession::forwardMasked(const BackendMessage& message) {
  const auto* err = std::get_if<ErrorResponse>(&message.body);
  const auto* notice = std::get_if<NoticeResponse>(&message.body);
  const NoticeFields* fields = err ? &err->fields : notice ? &notice->fields : nullptr;
  const bool detect = config_.masker && config_.masker->hasDetectorRules();
  // A statement that reads a column under a column rule can make the server write that
  // column's data into an error (`(cvv || 'x')::int`, `cvv::regclass`, make_date(cvv::int,
  // ...), a failing row in a constraint's detail, a function's RAISE): its values are
  // withheld, not only card numbers.
  // Also an error that names a table with such a column (any constraint's error does): a
  // foreign key's action or a trigger may have written rows of a table the statement does not
  // name.
  const bool withhold =
      fields != nullptr && (transaction_may_quote_ || errorsMayQuoteMaskedData(pipeline_.head()) ||
                            namesTableWithMaskedData(*fields));
  if (fields == nullptr || (!detect && !withhold)) {
    to_client_.append(message.raw);
    return;
  }
  static constexpr std::string_view kWithheld =
      "(withheld by tollgate: the statement reads columns under a masking rule)";
  // A plpgsql RAISE with its default SQLSTATE (class P0) writes the function's own text into
  // the message and hint: all of it may be data.
  const bool raised = fields->get('C').value_or("").substr(0, 2) == "P0";
  auto rewritten = rewriteNoticeFields(
      message.type, *fields, [&](char field, std::string_view value) -> std::optional<std::string> {
        std::optional<std::string> out;
        switch (field) {
          case 'M':  // message, hint: quoted values and digits withheld
          case 'H':
            if (withhold) {
              out = raised ? std::string(kWithheld) : withoutValues(value);
              if (*out == value) out.reset();
            }
            break;
          case 'D':  // detail, context, internal query
          case 'W':
          case 'q':
          case 's':  // schema, table, column, data type, constraint: a RAISE ... USING COLUMN
          case 't':  // = v sets them to anything, under any SQLSTATE it chooses
          case 'c':
          case 'd':
          case 'n':
            if (withhold) return std::string(kWithheld);
            break;
          default:
            return std::nullopt;  // severity, code, position, source file, line and routine
        }
        if (detect) {
          if (auto m = config_.masker->maskText(out ? std::string_view(*out) : value)) out = *m;
        }
        return out;
      });
  to_client_ += rewritten ? *rewritten : std::string(message.raw);
}

}  // namespace tollgate::sidecar::postgres
