// The sidecar's on-disk spool of audit events the control plane has not acknowledged yet.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate::sidecar::cp {

// One append-only file `<dir>/events.spool` of records [u32 length][u64 sequence][serialized
// v1::AuditEvent] (little-endian), plus `<dir>/sequence` holding the last sequence ever spooled
// and the last acknowledged one (so numbering continues across restarts even when the spool is
// empty, and acknowledged records still in the file are not replayed).
//
// Unacknowledged records are read back from the file when they are sent (read()): memory holds
// only where each one is (24 bytes per record), so a backlog of tens of megabytes, while the
// control plane is away or slow, costs disk, not the pod's memory. They are a contiguous tail
// of the file, read in one pread per batch, mostly from the page cache.
//
// A torn last record (crash mid-write) is dropped on open. The file is truncated when
// everything is acknowledged and rewritten with only the unacknowledged tail when it grows past
// `compact_bytes` with an acknowledged prefix. Not thread-safe: the stream client's writer
// thread owns it.
class AuditSpool {
 public:
  // One record read back. `bytes` points into the spool's read buffer: valid until the next
  // read() or change to the spool.
  struct Record {
    uint64_t sequence = 0;
    std::string_view bytes;  // serialized v1::AuditEvent
    // False when the file no longer holds the record as it was written (cut, or overwritten
    // by something else): `bytes` is empty and its content is lost.
    bool intact = true;
    size_t length = 0;  // the serialized event's size as written (what is lost when not intact)
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
  absl::Status append(uint64_t sequence, std::string_view bytes);
  // fdatasync of everything appended so far.
  absl::Status sync();
  // Drops everything up to and including `sequence`.
  absl::Status acknowledge(uint64_t sequence);

  // Reads the unacknowledged records after sequence `after`, in order: as many as fit in
  // `max_bytes` of payload (at least one) and `max_records`. Empty when none is left. An I/O
  // error leaves everything pending, to be read again.
  absl::StatusOr<std::span<const Record>> read(uint64_t after, size_t max_bytes,
                                               size_t max_records);

  size_t pendingEvents() const { return pending_.size(); }
  size_t pendingBytes() const { return pending_bytes_; }
  // The oldest unacknowledged sequence, 0 when none.
  uint64_t firstPending() const { return pending_.empty() ? 0 : pending_.front().sequence; }

 private:
  // Where one unacknowledged record is in the file.
  struct Slot {
    uint64_t sequence = 0;
    uint64_t offset = 0;  // of its 12-byte header
    uint32_t length = 0;  // of its payload
  };

  AuditSpool() = default;
  absl::Status load();
  absl::Status rewrite();
  // Writes `<dir>/sequence`: the last sequence spooled and the last acknowledged.
  absl::Status saveSequence(bool durable);
  // Reads exactly `size` bytes at `offset` into read_buf_ (grown as needed); returns how many
  // the file had (fewer at its end).
  absl::StatusOr<size_t> readAt(uint64_t offset, size_t size);

  std::string dir_;
  std::string file_;
  int fd_ = -1;
  uint64_t compact_bytes_ = 0;
  uint64_t file_bytes_ = 0;
  bool torn_ = false;  // the last append failed part-way
  uint64_t last_sequence_ = 0;
  std::deque<Slot> pending_;  // a contiguous tail of the file, in sequence order
  size_t pending_bytes_ = 0;
  // read()'s buffer: allocated, not filled, so only the pages a read touches are resident.
  std::unique_ptr<char[]> read_buf_;
  size_t read_capacity_ = 0;
  std::vector<Record> records_;
};

}  // namespace tollgate::sidecar::cp
