// SqliteAuditStore::verify: recomputes the hash chain and checks signed checkpoints.
#include <algorithm>
#include <limits>
#include <map>

#include "controlplane/audit/record_index.h"
#include "controlplane/audit/sqlite_audit_store.h"

namespace tollgate::controlplane::audit {
namespace {

// Hashes of this many preceding records are remembered to check links across reorderings.
constexpr size_t kLinkWindow = 1024;

struct CheckpointRow {
  int64_t id = 0;
  Checkpoint cp;
  bool valid = false;
};

std::string range(uint64_t first, uint64_t last) {
  return first == last ? std::to_string(first)
                       : std::to_string(first) + ".." + std::to_string(last);
}

class Verifier {
 public:
  explicit Verifier(VerifyReport& report) : report_(report) {}

  void problem(uint64_t sequence, ProblemKind kind, const std::string& what) {
    report_.problems.push_back({sequence, kind, std::string(problemKindName(kind)) + ": " + what});
  }

  // Checks one stored row (columns: seq, payload, prev_hash, record_hash, then the indexed
  // columns in table order).
  void checkRow(const Stmt& row) {
    const uint64_t seq = static_cast<uint64_t>(row.i64(0));
    const std::string_view payload = row.blob(1);
    auto prev = hashFromBytes(row.blob(2));
    auto stored = hashFromBytes(row.blob(3));
    auto header = recordHeaderSequence(payload);
    if (header.ok() && *header != seq) {
      problem(seq, ProblemKind::kReordered,
              "record stored at sequence " + std::to_string(seq) + " was written as sequence " +
                  std::to_string(*header));
      if (stored.ok()) remember(*header, *stored);
      return;
    }
    if (stored.ok()) remember(seq, *stored);
    auto event = decodeRecord(payload);
    if (!event.ok() || !prev.ok() || !stored.ok()) {
      problem(seq, ProblemKind::kChanged,
              "record " + std::to_string(seq) + " is malformed: " +
                  std::string(!event.ok() ? event.status().message() : "bad hash column"));
      return;
    }
    if (chainHash(*prev, payload) != *stored) {
      problem(seq, ProblemKind::kChanged,
              "record " + std::to_string(seq) + " does not match its record_hash");
      return;
    }
    IndexColumns cols{row.i64(4),
                      row.i64(5),
                      row.i64(6),
                      std::string(row.text(7)),
                      std::string(row.text(8)),
                      std::string(row.text(9)),
                      std::string(row.text(10)),
                      std::string(row.text(11)),
                      row.i64(12),
                      std::string(row.text(13))};
    if (cols != indexColumns(*event)) {
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

  void remember(uint64_t seq, const Hash& hash) {
    known_[seq] = hash;
    while (known_.size() > kLinkWindow) known_.erase(known_.begin());
  }

 private:
  VerifyReport& report_;
  std::map<uint64_t, Hash> known_;
};

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

absl::StatusOr<VerifyReport> SqliteAuditStore::verify(uint64_t from, uint64_t to) {
  auto lease = acquireReader();
  if (!lease.ok()) return lease.status();
  Db db = std::move(*lease);
  // One read transaction: a consistent snapshot while appends continue.
  if (absl::Status st = db.exec("BEGIN"); !st.ok()) return st;
  VerifyReport report;
  Verifier v(report);

  std::vector<CheckpointRow> checkpoints;
  Hash anchor = kZeroHash;
  {
    auto stmt = db.prepare(
        "SELECT id, kind, up_to_seq, record_hash, time_us, key_id, signature"
        " FROM audit_checkpoints ORDER BY id");
    if (!stmt.ok()) return stmt.status();
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      CheckpointRow c;
      c.id = stmt->i64(0);
      c.cp.kind = static_cast<CheckpointKind>(stmt->i64(1));
      c.cp.up_to_sequence = static_cast<uint64_t>(stmt->i64(2));
      auto hash = hashFromBytes(stmt->blob(3));
      c.cp.time_us = stmt->i64(4);
      c.valid =
          hash.ok() && stmt->i64(1) >= 1 && stmt->i64(1) <= 3 && stmt->text(5) == key_->keyId();
      if (c.valid) {
        c.cp.record_hash = *hash;
        c.valid = key_->verify(checkpointMessage(c.cp), stmt->blob(6));
      }
      ++report.checkpoints_checked;
      if (!c.valid) {
        v.problem(c.cp.up_to_sequence, ProblemKind::kBadSignature,
                  "checkpoint #" + std::to_string(c.id) + " over sequence " +
                      std::to_string(c.cp.up_to_sequence) + " does not verify under key " +
                      key_->keyId());
      } else if (c.cp.kind == CheckpointKind::kRetention &&
                 c.cp.up_to_sequence > report.pruned_through) {
        report.pruned_through = c.cp.up_to_sequence;
        report.pruned_at_us = c.cp.time_us;
        anchor = c.cp.record_hash;
      }
      checkpoints.push_back(c);
    }
  }

  const uint64_t start = std::max<uint64_t>(from == 0 ? 1 : from, report.pruned_through + 1);
  const uint64_t end = to == 0 ? std::numeric_limits<uint64_t>::max() : to;
  if (start == report.pruned_through + 1) {
    v.remember(report.pruned_through, anchor);
  } else {
    auto stmt = db.prepare("SELECT record_hash FROM audit_records WHERE seq = ?");
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, static_cast<int64_t>(start - 1));
    auto row = stmt->step();
    if (!row.ok()) return row.status();
    if (*row) {
      if (auto h = hashFromBytes(stmt->blob(0)); h.ok()) v.remember(start - 1, *h);
    }
  }

  // Every row from `start`, plus the first one after `end` to see a gap reaching past `end`.
  uint64_t expected = start;
  uint64_t highest = report.pruned_through;
  std::map<uint64_t, Hash> at_checkpoint;
  {
    auto stmt = db.prepare(
        "SELECT seq, payload, prev_hash, record_hash, time_us, event_type, decision,"
        " principal_id, subject, resource, session_id, source, source_seq, text"
        " FROM audit_records WHERE seq >= ? ORDER BY seq");
    if (!stmt.ok()) return stmt.status();
    stmt->bind(1, static_cast<int64_t>(start));
    for (;;) {
      auto row = stmt->step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const uint64_t seq = static_cast<uint64_t>(stmt->i64(0));
      highest = seq;
      if (seq > expected && expected <= end) {
        uint64_t last = std::min(seq - 1, end);
        v.problem(expected, ProblemKind::kMissing,
                  "records " + range(expected, last) + " are missing (sequence gap)");
      }
      if (seq > end) break;
      expected = seq + 1;
      ++report.records_checked;
      v.checkRow(*stmt);
      if (auto h = hashFromBytes(stmt->blob(3)); h.ok()) at_checkpoint[seq] = *h;
      if (at_checkpoint.size() > kLinkWindow) at_checkpoint.erase(at_checkpoint.begin());
    }
  }

  // Checkpoint hashes against the stored chain, and the tail they prove existed.
  uint64_t covered = 0;
  auto lookup = db.prepare("SELECT record_hash FROM audit_records WHERE seq = ?");
  if (!lookup.ok()) return lookup.status();
  for (const CheckpointRow& c : checkpoints) {
    const uint64_t up_to = c.cp.up_to_sequence;
    if (!c.valid || c.cp.kind == CheckpointKind::kRetention || up_to < start || up_to > end) {
      continue;
    }
    if (up_to > highest) {
      covered = std::max(covered, up_to);
      continue;
    }
    lookup->reset();
    lookup->bind(1, static_cast<int64_t>(up_to));
    auto row = lookup->step();
    if (!row.ok()) return row.status();
    if (!*row) continue;  // reported as a gap
    auto h = hashFromBytes(lookup->blob(0));
    if (!h.ok() || *h != c.cp.record_hash) {
      v.problem(up_to, ProblemKind::kCheckpointMismatch,
                "record " + std::to_string(up_to) + " differs from what checkpoint #" +
                    std::to_string(c.id) + " signed (chain rewritten)");
    }
  }
  if (covered > highest) {
    v.problem(highest + 1, ProblemKind::kTruncated,
              "records " + range(std::max(highest + 1, start), covered) +
                  " are missing but a signed checkpoint covers them (tail truncated)");
  }
  (void)db.exec("COMMIT");
  releaseReader(std::move(db));
  std::stable_sort(
      report.problems.begin(), report.problems.end(),
      [](const VerifyProblem& a, const VerifyProblem& b) { return a.sequence < b.sequence; });
  report.ok = report.problems.empty();
  return report;
}

}  // namespace tollgate::controlplane::audit
