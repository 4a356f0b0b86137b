// ChainVerifier: recomputes the hash chain over stored rows and checks signed checkpoints.
#include "controlplane/audit/chain_verifier.h"

#include <algorithm>
#include <limits>

namespace tollgate::controlplane::audit {
namespace {

// Hashes of this many preceding records are remembered to check links across reorderings.
constexpr size_t kLinkWindow = 1024;

std::string range(uint64_t first, uint64_t last) {
  return first == last ? std::to_string(first)
                       : std::to_string(first) + ".." + std::to_string(last);
}

}  // namespace

std::string_view problemKindName(ProblemKind kind) {
  switch (kind) {
    case ProblemKind::kChanged:
      return "changed";
    case ProblemKind::kMissing:
      return "missing";
    case ProblemKind::kReordered:
      return "reordered";
    case ProblemKind::kBadSignature:
      return "bad-signature";
    case ProblemKind::kTruncated:
      return "truncated";
    case ProblemKind::kCheckpointMismatch:
      return "checkpoint-mismatch";
  }
  return "unknown";
}

v1::VerifyAuditResponse VerifyReport::toProto() const {
  v1::VerifyAuditResponse out;
  out.set_ok(ok);
  out.set_records_checked(records_checked);
  out.set_checkpoints_checked(checkpoints_checked);
  for (const VerifyProblem& p : problems) {
    auto* q = out.add_problems();
    q->set_sequence(p.sequence);
    q->set_what(p.what);
  }
  return out;
}

ChainVerifier::ChainVerifier(const CheckpointKey& key, uint64_t from, uint64_t to,
                             ColumnMapper columns_of)
    : key_(key),
      from_(from),
      end_(to == 0 ? std::numeric_limits<uint64_t>::max() : to),
      columns_of_(std::move(columns_of)) {}

void ChainVerifier::problem(uint64_t sequence, ProblemKind kind, const std::string& what) {
  report_.problems.push_back({sequence, kind, std::string(problemKindName(kind)) + ": " + what});
}

void ChainVerifier::remember(uint64_t seq, const Hash& hash) {
  known_[seq] = hash;
  while (known_.size() > kLinkWindow) known_.erase(known_.begin());
}

void ChainVerifier::addCheckpoint(const StoredCheckpoint& row) {
  CheckpointRow c;
  c.id = row.id;
  c.cp.kind = static_cast<CheckpointKind>(row.kind);
  c.cp.up_to_sequence = row.up_to_sequence;
  c.cp.time_us = row.time_us;
  auto hash = hashFromBytes(row.record_hash);
  c.valid = hash.ok() && row.kind >= 1 && row.kind <= 3 && row.key_id == key_.keyId();
  if (c.valid) {
    c.cp.record_hash = *hash;
    c.valid = key_.verify(checkpointMessage(c.cp), row.signature);
  }
  ++report_.checkpoints_checked;
  if (!c.valid) {
    problem(c.cp.up_to_sequence, ProblemKind::kBadSignature,
            "checkpoint #" + std::to_string(c.id) + " over sequence " +
                std::to_string(c.cp.up_to_sequence) + " does not verify under key " + key_.keyId());
  } else if (c.cp.kind == CheckpointKind::kRetention &&
             c.cp.up_to_sequence > report_.pruned_through) {
    report_.pruned_through = c.cp.up_to_sequence;
    report_.pruned_at_us = c.cp.time_us;
    anchor_ = c.cp.record_hash;
  }
  checkpoints_.push_back(c);
}

absl::Status ChainVerifier::beginRecords(const HashLookup& lookup) {
  start_ = std::max<uint64_t>(from_ == 0 ? 1 : from_, report_.pruned_through + 1);
  expected_ = start_;
  highest_ = report_.pruned_through;
  if (start_ == report_.pruned_through + 1) {
    remember(report_.pruned_through, anchor_);
    return absl::OkStatus();
  }
  auto before = lookup(start_ - 1);
  if (!before.ok()) return before.status();
  if (*before) {
    if (auto h = hashFromBytes(**before); h.ok()) remember(start_ - 1, *h);
  }
  return absl::OkStatus();
}

bool ChainVerifier::addRecord(const StoredRecord& row) {
  const uint64_t seq = row.sequence;
  highest_ = seq;
  if (seq > expected_ && expected_ <= end_) {
    uint64_t last = std::min(seq - 1, end_);
    problem(expected_, ProblemKind::kMissing,
            "records " + range(expected_, last) + " are missing (sequence gap)");
  }
  if (seq > end_) return false;
  expected_ = seq + 1;
  ++report_.records_checked;
  checkRow(row);
  return true;
}

void ChainVerifier::checkRow(const StoredRecord& row) {
  const uint64_t seq = row.sequence;
  auto prev = hashFromBytes(row.prev_hash);
  auto stored = hashFromBytes(row.record_hash);
  auto header = recordHeaderSequence(row.payload);
  if (header.ok() && *header != seq) {
    problem(seq, ProblemKind::kReordered,
            "record stored at sequence " + std::to_string(seq) + " was written as sequence " +
                std::to_string(*header));
    if (stored.ok()) remember(*header, *stored);
    return;
  }
  if (stored.ok()) remember(seq, *stored);
  auto event = decodeRecord(row.payload);
  if (!event.ok() || !prev.ok() || !stored.ok()) {
    problem(seq, ProblemKind::kChanged,
            "record " + std::to_string(seq) + " is malformed: " +
                std::string(!event.ok() ? event.status().message() : "bad hash column"));
    return;
  }
  if (chainHash(*prev, row.payload) != *stored) {
    problem(seq, ProblemKind::kChanged,
            "record " + std::to_string(seq) + " does not match its record_hash");
    return;
  }
  IndexColumns derived = indexColumns(*event);
  if (columns_of_) derived = columns_of_(std::move(derived));
  if (row.columns != derived) {
    problem(seq, ProblemKind::kChanged,
            "search columns of record " + std::to_string(seq) + " differ from the record");
    return;
  }
  auto before = known_.find(seq - 1);
  if (before != known_.end() && before->second != *prev) {
    problem(seq, ProblemKind::kChanged,
            "record " + std::to_string(seq) + " does not link to record " +
                std::to_string(seq - 1) + " (chain rewritten)");
  }
}

absl::StatusOr<VerifyReport> ChainVerifier::finish(const HashLookup& lookup) {
  // Checkpoint hashes against the stored chain, and the tail they prove existed.
  uint64_t covered = 0;
  for (const CheckpointRow& c : checkpoints_) {
    const uint64_t up_to = c.cp.up_to_sequence;
    if (!c.valid || c.cp.kind == CheckpointKind::kRetention || up_to < start_ || up_to > end_) {
      continue;
    }
    if (up_to > highest_) {
      covered = std::max(covered, up_to);
      continue;
    }
    auto stored = lookup(up_to);
    if (!stored.ok()) return stored.status();
    if (!*stored) continue;  // reported as a gap
    auto h = hashFromBytes(**stored);
    if (!h.ok() || *h != c.cp.record_hash) {
      problem(up_to, ProblemKind::kCheckpointMismatch,
              "record " + std::to_string(up_to) + " differs from what checkpoint #" +
                  std::to_string(c.id) + " signed (chain rewritten)");
    }
  }
  if (covered > highest_) {
    problem(highest_ + 1, ProblemKind::kTruncated,
            "records " + range(std::max(highest_ + 1, start_), covered) +
                " are missing but a signed checkpoint covers them (tail truncated)");
  }
  std::stable_sort(
      report_.problems.begin(), report_.problems.end(),
      [](const VerifyProblem& a, const VerifyProblem& b) { return a.sequence < b.sequence; });
  report_.ok = report_.problems.empty();
  return std::move(report_);
}

}  // namespace tollgate::controlplane::audit
