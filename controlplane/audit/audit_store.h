// The audit store interface: an append-only, hash-chained, checkpoint-signed trail of events.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controlplane/audit/search.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::controlplane::audit {

// Outcome of one append() call, one entry per input event, in input order.
struct AppendResult {
  // The store sequence of each event: newly assigned, or for a duplicate the sequence of the
  // record already stored for the same (location.source, source_sequence).
  std::vector<uint64_t> sequences;
  // True where the event was a replay of a stored record and was not stored again.
  std::vector<bool> duplicate;
  // How many string values had a card number scrubbed before storing (alert when non-zero:
  // a producer leaked cardholder data into an event).
  size_t pans_scrubbed = 0;
  // How many string values held invalid UTF-8 (repaired with U+FFFD so the record decodes).
  size_t invalid_utf8 = 0;
};

// The kinds of problem verify() reports.
enum class ProblemKind {
  kChanged,             // a record's bytes, derived columns or chain link no longer match its hash
  kMissing,             // a sequence gap: records deleted from the middle or the head
  kReordered,           // a record stored at a position other than the sequence it was hashed with
  kBadSignature,        // a checkpoint whose signature does not verify under the store key
  kTruncated,           // records a checkpoint covered are missing at the tail
  kCheckpointMismatch,  // a record's hash differs from what a valid checkpoint signed
};
std::string_view problemKindName(ProblemKind kind);

struct VerifyProblem {
  uint64_t sequence = 0;  // first record concerned (for checkpoints: their up_to_sequence)
  ProblemKind kind = ProblemKind::kChanged;
  std::string what;  // human-readable, starts with problemKindName(kind)
};

struct VerifyReport {
  bool ok = true;  // no problems
  uint64_t records_checked = 0;
  uint64_t checkpoints_checked = 0;
  // Records 1..pruned_through were deleted by retention (0: none), per a valid signed retention
  // checkpoint written at pruned_at_us. Not a problem; reported so auditors see it.
  uint64_t pruned_through = 0;
  int64_t pruned_at_us = 0;
  std::vector<VerifyProblem> problems;  // in sequence order

  v1::VerifyAuditResponse toProto() const;
};

// Outcome of retention.
struct PruneResult {
  uint64_t first_pruned = 0;  // 0 when nothing was pruned
  uint64_t last_pruned = 0;
};

// Called once per exported record; a non-OK status stops the export and is returned by it.
using ExportCallback = std::function<absl::Status(const v1::AuditEvent&)>;

// Thread-safety: every method may be called from any thread concurrently. Writes (append,
// checkpoint, prune) are serialised; reads run concurrently with each other and with writes,
// and see only committed transactions.
class AuditStore {
 public:
  virtual ~AuditStore() = default;

  // Stores `events` in one transaction, in order: scrubs card numbers, repairs invalid UTF-8,
  // assigns sequence, prev_hash and record_hash, and fills a missing event time from the store
  // clock. Events with a non-zero source_sequence whose (location.source, source_sequence) is
  // already stored (or earlier in the same batch) are duplicates: skipped, reported, not an
  // error. Writes a periodic checkpoint when due. On error nothing of the batch is stored.
  virtual absl::StatusOr<AppendResult> append(const std::vector<v1::AuditEvent>& events) = 0;

  // The record at `sequence` with its hashes; NotFound if absent (never stored or pruned).
  virtual absl::StatusOr<v1::AuditEvent> get(uint64_t sequence) = 0;

  // One page of matching records in sequence order, and the token of the next page (empty
  // when this page is the last).
  virtual absl::StatusOr<v1::SearchAuditResponse> search(const SearchFilter& filter) = 0;

  // Calls `callback` for every record matching `filter` (limit ignored), in sequence order,
  // streaming: memory use does not grow with the number of records.
  virtual absl::Status exportRecords(const SearchFilter& filter,
                                     const ExportCallback& callback) = 0;

  // Recomputes the chain over [from, to] (0: from the first / to the last record) and checks
  // checkpoint signatures and hashes. Problems are reported, not returned as errors; an error
  // means the store could not be read.
  virtual absl::StatusOr<VerifyReport> verify(uint64_t from, uint64_t to) = 0;

  // Writes a signed checkpoint at the current head now; returns its sequence (0 when the store
  // has never held a record, and then writes nothing).
  virtual absl::StatusOr<uint64_t> checkpoint() = 0;

  // Retention: deletes the longest run of oldest records (from the first stored) whose event
  // time is before `cutoff`, after writing a signed retention checkpoint anchoring the rest of
  // the chain. Records after the first one at or after the cutoff are kept even if older.
  virtual absl::StatusOr<PruneResult> pruneBefore(std::chrono::system_clock::time_point cutoff) = 0;

  // Highest sequence stored so far (0 when empty).
  virtual uint64_t headSequence() = 0;

  // The highest source_sequence N for `source` (a record's location.source) such that 1..N are
  // all stored: 0 when none is, and when any below the highest is missing (a producer that
  // left a gap; records pruned by retention), so it can be taken as a cumulative
  // acknowledgement. Errors when the store cannot be read.
  virtual absl::StatusOr<uint64_t> storedThroughSequence(const std::string& source) = 0;
};
using AuditStorePtr = std::unique_ptr<AuditStore>;

// Default retention (PCI DSS 10.5.1: at least 12 months).
inline constexpr std::chrono::hours kDefaultRetention{24 * 366};

}  // namespace tollgate::controlplane::audit
