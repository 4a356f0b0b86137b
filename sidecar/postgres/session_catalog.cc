// PostgreSQL session, the database's own types: the catalog read once logged in (or taken
// from another session's recent read), and what the session's own DDL does to it.
#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/log.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {
namespace {

constexpr int kMaxCatalogRetries = 3;

}  // namespace

CallbackAction PostgresSession::onLoggedIn(const BackendMessage& ready) {
  const policy::Masker* masker = config_.masker.get();
  if (masker != nullptr && (masker->hasColumnRules() || masker->hasDetectorRules())) {
    if (config_.type_catalogs != nullptr) {
      auto rows = config_.type_catalogs->get(catalogKey(), TypeCatalogCache::Clock::now(),
                                             &catalog_generation_);
      if (rows && catalogFromRows(*rows)) {
        startRelay(ready);
        return CallbackAction::kContinue;
      }
    }
    // Before the job's first statement, so no answer of the job's is in between.
    catalog_ = std::make_unique<TypeCatalog>();
    state_ = State::kCatalog;
    to_upstream_ += buildQuery(TypeCatalog::query(server_major_));
    return CallbackAction::kContinue;
  }
  startRelay(ready);
  return CallbackAction::kContinue;
}

CallbackAction PostgresSession::onCatalogMessage(const BackendMessage& message) {
  switch (message.type) {
    case 'T':
    case 'C':
    case 'N':
      return CallbackAction::kContinue;
    case 'D':
      catalog_->addRow(std::get<DataRow>(message.body).columns);
      if (config_.type_catalogs != nullptr && !catalog_->truncated()) {
        catalog_rows_.emplace_back(message.raw);
      }
      return CallbackAction::kContinue;
    case 'E': {
      // Not PostgreSQL's catalog (a look-alike server), or not readable: without it, values of
      // the database's own types could pass unmasked, so the session ends (fail closed).
      ErrorFields f = readErrorFields(std::get<ErrorResponse>(message.body).fields);
      const bool locked = f.code == kSqlStateLockNotAvailable && !catalog_without_view_definitions_;
      if ((f.code == kSqlStateQueryCanceled && catalog_retries_ < kMaxCatalogRetries) || locked) {
        // The job's statement_timeout (a startup option) runs until the query's SET LOCAL
        // statement_timeout = 0, parsing the query included: on a busy server a short one can
        // fire first. A table locked for ALTER TABLE holds up pg_get_viewdef: then the views
        // are read without their definitions. Sent again once the server is ready.
        catalog_retry_ = true;
        if (locked) {
          catalog_without_view_definitions_ = true;
          log::warn(
              "type catalog: a lock held up reading view definitions; the views' columns "
              "are masked whole in this session",
              {{"session", id_}});
          return CallbackAction::kContinue;
        }
        log::info("type catalog read cancelled by the server; reading again",
                  {{"session", id_}, {"attempt", std::to_string(catalog_retries_ + 2)}});
        return CallbackAction::kContinue;
      }
      std::string text = f.message;
      if (auto m = config_.masker->maskText(text)) text = *m;
      if (config_.stats) config_.stats->upstream_failures.Increment();
      fatalToClient(kSqlStateConnectionFailure,
                    "tollgate: could not read the types of resource " + config_.resource->name +
                        ", which masking needs (SQLSTATE " + f.code + "): " + text);
      return CallbackAction::kStop;
    }
    case 'S':
      return relayParameterStatus(message, std::get<ParameterStatus>(message.body))
                 ? CallbackAction::kContinue
                 : CallbackAction::kStop;
    case 'Z':
      if (catalog_retry_) {
        catalog_retry_ = false;
        ++catalog_retries_;
        catalog_ = std::make_unique<TypeCatalog>();
        catalog_rows_.clear();
        // The cancelled query may have left its read-only transaction open (failed).
        const char status = std::get<ReadyForQuery>(message.body).status;
        to_upstream_ +=
            buildQuery((status != 'I' ? std::string("ROLLBACK; ") : std::string()) +
                       TypeCatalog::query(server_major_, !catalog_without_view_definitions_));
        return CallbackAction::kContinue;
      }
      if (catalog_->truncated()) {
        // Part of the catalog would let some values of the database's own types through.
        fatalToClient(kSqlStateConnectionFailure,
                      "tollgate: resource " + config_.resource->name + " has more than " +
                          std::to_string(TypeCatalog::kMaxRows) +
                          " type definitions and typed columns for the sidecar to read; "
                          "masking cannot be applied");
        return CallbackAction::kStop;
      }
      catalog_->resolveViews(*config_.analyzer, config_.max_statement_bytes);
      catalog_->bindRules(*config_.masker);
      // A catalog read without the views' definitions is not shared: the next session may
      // find the lock gone.
      if (config_.type_catalogs != nullptr && !catalog_without_view_definitions_) {
        config_.type_catalogs->put(
            catalogKey(),
            std::make_shared<const std::vector<std::string>>(std::move(catalog_rows_)),
            TypeCatalogCache::Clock::now(), catalog_generation_);
      }
      catalog_rows_ = {};
      startRelay(message);
      return CallbackAction::kContinue;
    default:
      fatalToClient(kSqlStateProtocolViolation, "tollgate: unexpected message from resource " +
                                                    config_.resource->name + " during startup");
      return CallbackAction::kStop;
  }
}

std::string PostgresSession::catalogKey() const {
  return config_.resource->name + '\0' + database_ + '\0' + credential_->username;
}

bool PostgresSession::catalogFromRows(const std::vector<std::string>& rows) {
  auto catalog = std::make_unique<TypeCatalog>();
  for (const std::string& raw : rows) {
    if (raw.size() < kHeaderSize) return false;
    auto body = parseBackendBody('D', std::string_view(raw).substr(kHeaderSize));
    if (!body.ok() || !std::holds_alternative<DataRow>(*body)) return false;
    catalog->addRow(std::get<DataRow>(*body).columns);
  }
  catalog->resolveViews(*config_.analyzer, config_.max_statement_bytes);
  catalog->bindRules(*config_.masker);
  catalog_ = std::move(catalog);
  return true;
}

void PostgresSession::startRelay(const BackendMessage& ready) {
  txn_status_ = std::get<ReadyForQuery>(ready.body).status;
  to_client_ += held_key_data_;
  held_key_data_.clear();
  to_client_.append(ready.raw);
  state_ = State::kReady;
  emitSessionStart();
  processClient();  // anything the client pipelined after its startup packet
}

bool PostgresSession::mayChangeCatalog(const policy::StatementFacts& st) {
  // DDL may have changed a type or table the catalog describes; so may an admin statement
  // (CREATE EXTENSION, IMPORT FOREIGN SCHEMA, DROP OWNED) other than maintenance, a procedure,
  // COMMIT PREPARED (DDL prepared earlier), and one of the database's own functions whose body
  // may (DDL, dynamic SQL, another language; a temporary table it creates may shadow one of
  // the same name): withFunctionsResolved() tells.
  static constexpr std::string_view kMaintenance[] = {"vacuum", "analyze", "reindex", "cluster",
                                                      "checkpoint"};
  const bool maintenance = std::find(std::begin(kMaintenance), std::end(kMaintenance), st.type) !=
                           std::end(kMaintenance);
  if (st.cls == policy::StatementClass::kDdl ||
      (st.cls == policy::StatementClass::kAdmin && !maintenance) || st.type == "call" ||
      st.type == "do" || st.type == "commit_prepared") {
    return true;
  }
  return st.calls_table_changes;
}

bool PostgresSession::changesTables(const policy::StatementFacts& st) {
  return mayChangeCatalog(st) || st.fires_table_changes;
}

void PostgresSession::noteTypeChange(const policy::StatementFacts& st) {
  // Already noted in this transaction: nothing more to do.
  if (!catalog_ || (catalog_->stale() && catalog_changed_)) return;
  // A trigger it fired may have altered a type too (ALTER TYPE rec DROP ATTRIBUTE holder, ADD
  // ATTRIBUTE holder moves cvv first).
  if (changesTables(st)) catalogMayHaveChanged();
}

void PostgresSession::catalogMayHaveChanged() {
  if (!catalog_) return;
  // A type the catalog describes may have changed (structured_values.h).
  catalog_->markStale();
  // One beginChange() per transaction: nothing is shared until its settleTypeChanges().
  if (config_.type_catalogs != nullptr && !catalog_changed_) {
    config_.type_catalogs->beginChange(catalogKey());
  }
  catalog_changed_ = true;
}

void PostgresSession::settleTypeChanges() {
  if (!catalog_changed_) return;
  catalog_changed_ = false;
  if (config_.type_catalogs != nullptr) config_.type_catalogs->endChange(catalogKey());
}

}  // namespace tollgate::sidecar::postgres
