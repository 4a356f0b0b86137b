// The sidecar's on-disk spool of audit events the control plane has not acknowledged yet.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate::sidecar::cp {

// One append-only file `<dir>/events.spool` of records [u32 length][u64 sequence][serialized
// v1::AuditEvent] (little-endian), plus `<dir>/sequence` holding the last sequence ever spooled
// and the last acknowledged one (so numbering continues across restarts even when the spool is
// empty, and acknowledged records still in the file are not replayed). Every unacknowledged
// event is also kept in memory, in order, for replay; the file is what survives a crash.
//
// A torn last record (crash mid-write) is dropped on open. The file is truncated when
// everything is acknowledged and rewritten with only the unacknowledged tail when it grows past
// `compact_bytes` with an acknowledged prefix. Not thread-safe: the stream client's writer
// thread owns it.
class AuditSpool {
 public:
  struct Entry {
    uint64_t sequence = 0;
    std::string bytes;  // serialized v1::AuditEvent
  };

  // Creates `dir` if needed and loads what a previous run left. Errors name the path.
  // compact_bytes: the file is rewritten with only its unacknowledged tail once it grows past
  // this with an acknowledged prefix; small, since a pod's spool shares a 128 MiB emptyDir.
  static absl::StatusOr<AuditSpool> open(const std::string& dir,
                                         uint64_t compact_bytes = 8ull << 20);
  AuditSpool(AuditSpool&& other) noexcept { *this = std::move(other); }
  AuditSpool& operator=(AuditSpool&& other) noexcept;
  AuditSpool(const AuditSpool&) = delete;
  AuditSpool& operator=(const AuditSpool&) = delete;
  ~AuditSpool();

  // The sequence the next event gets (1 for a brand-new spool).
  uint64_t nextSequence() const { return last_sequence_ + 1; }
  // Appends an event already numbered with nextSequence(). Call sync() before relying on it.
  // On an error nothing is appended (a partial record is cut before the next append) and the
  // same sequence may be appended again.
  absl::Status append(uint64_t sequence, std::string bytes);
  // fdatasync of everything appended so far.
  absl::Status sync();
  // Drops everything up to and including `sequence`.
  absl::Status acknowledge(uint64_t sequence);

  const std::deque<Entry>& pending() const { return pending_; }
  size_t pendingBytes() const { return pending_bytes_; }

 private:
  AuditSpool() = default;
  absl::Status load();
  absl::Status rewrite();
  // Writes `<dir>/sequence`: the last sequence spooled and the last acknowledged.
  absl::Status saveSequence(bool durable);

  std::string dir_;
  std::string file_;
  int fd_ = -1;
  uint64_t compact_bytes_ = 0;
  uint64_t file_bytes_ = 0;
  bool torn_ = false;  // the last append failed part-way
  uint64_t last_sequence_ = 0;
  std::deque<Entry> pending_;
  size_t pending_bytes_ = 0;
};

}  // namespace tollgate::sidecar::cp
