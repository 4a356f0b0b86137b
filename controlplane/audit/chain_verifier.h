// The backend-neutral core of AuditStore::verify: checks stored rows and checkpoints as a store
// reads them, in the order docs/audit-format.md ("What verify reports") describes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/audit/audit_store.h"
#include "controlplane/audit/chain.h"
#include "controlplane/audit/checkpoint.h"
#include "controlplane/audit/record_index.h"

namespace tollgate::controlplane::audit {

// One audit_checkpoints row as stored (nothing trusted yet).
struct StoredCheckpoint {
  int64_t id = 0;
  int64_t kind = 0;
  uint64_t up_to_sequence = 0;
  std::string_view record_hash;  // should be 32 bytes
  int64_t time_us = 0;
  std::string_view key_id;
  std::string_view signature;
};

// One audit_records row as stored: the row's sequence, its bytes and hashes, and the search
// columns as the table holds them.
struct StoredRecord {
  uint64_t sequence = 0;
  std::string_view payload;
  std::string_view prev_hash;    // should be 32 bytes
  std::string_view record_hash;  // should be 32 bytes
  IndexColumns columns;
};

// The stored record_hash of the record at a sequence; nullopt when there is no such row.
using HashLookup = std::function<absl::StatusOr<std::optional<std::string>>(uint64_t sequence)>;

// Use: addCheckpoint() for every checkpoint row (in id order), then beginRecords(), then
// addRecord() for the rows with sequence >= recordsFrom() in sequence order until it returns
// false or the rows run out, then finish(). `columns_of` maps the columns derived from a
// decoded event to what the backend stores (identity for SQLite). One verifier per verify call;
// memory stays bounded (a window of recent hashes), whatever the number of records.
class ChainVerifier {
 public:
  using ColumnMapper = std::function<IndexColumns(IndexColumns)>;
  ChainVerifier(const CheckpointKey& key, uint64_t from, uint64_t to, ColumnMapper columns_of = {});

  void addCheckpoint(const StoredCheckpoint& row);
  // Fixes the start of the walk; reads the hash before it through `lookup` when the walk does
  // not start at the retention anchor.
  absl::Status beginRecords(const HashLookup& lookup);
  // First sequence whose rows addRecord() wants (valid after beginRecords()).
  uint64_t recordsFrom() const { return start_; }
  // Checks one row; false once rows past `to` are no longer needed.
  bool addRecord(const StoredRecord& row);
  // Checks checkpoint hashes against the stored chain (through `lookup`), the covered tail,
  // and returns the sorted report.
  absl::StatusOr<VerifyReport> finish(const HashLookup& lookup);

 private:
  struct CheckpointRow {
    int64_t id = 0;
    Checkpoint cp;
    bool valid = false;
  };
  void problem(uint64_t sequence, ProblemKind kind, const std::string& what);
  void checkRow(const StoredRecord& row);
  void remember(uint64_t seq, const Hash& hash);

  const CheckpointKey& key_;
  const uint64_t from_;
  const uint64_t end_;
  ColumnMapper columns_of_;
  VerifyReport report_;
  std::vector<CheckpointRow> checkpoints_;
  Hash anchor_ = kZeroHash;
  uint64_t start_ = 1;
  uint64_t expected_ = 1;
  uint64_t highest_ = 0;
  std::map<uint64_t, Hash> known_;  // recent sequence -> stored hash, to check links
};

}  // namespace tollgate::controlplane::audit
