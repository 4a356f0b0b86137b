// Audit spool file handling.
#include "sidecar/cp/audit_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

namespace tollgate::sidecar::cp {
namespace {

absl::Status ioError(const std::string& what, const std::string& path) {
  return absl::UnavailableError(what + " " + path + ": " + std::strerror(errno));
}

absl::Status writeAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot write", path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

constexpr size_t kHeaderBytes = 12;      // u32 length, u64 sequence
constexpr size_t kLoadChunk = 1u << 20;  // open() reads headers this much at a time
constexpr size_t kCopyChunk = 1u << 20;  // rewrite() copies this much at a time

void putU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

void putU64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t getU32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

uint64_t getU64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

// One record, header and payload, in one system call (no copy into a joint buffer).
absl::Status writeRecord(int fd, const char* header, std::string_view payload,
                         const std::string& path) {
  iovec iov[2] = {{const_cast<char*>(header), kHeaderBytes},
                  {const_cast<char*>(payload.data()), payload.size()}};
  int first = 0;
  while (first < 2) {
    ssize_t n = ::writev(fd, iov + first, 2 - first);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot write", path);
    }
    auto left = static_cast<size_t>(n);
    while (first < 2 && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < 2) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return absl::OkStatus();
}

}  // namespace

AuditSpool& AuditSpool::operator=(AuditSpool&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  dir_ = std::move(other.dir_);
  file_ = std::move(other.file_);
  fd_ = std::exchange(other.fd_, -1);
  compact_bytes_ = other.compact_bytes_;
  file_bytes_ = other.file_bytes_;
  torn_ = other.torn_;
  last_sequence_ = other.last_sequence_;
  pending_ = std::move(other.pending_);
  pending_bytes_ = std::exchange(other.pending_bytes_, 0);
  read_buf_ = std::move(other.read_buf_);
  read_capacity_ = std::exchange(other.read_capacity_, 0);
  records_ = std::move(other.records_);
  return *this;
}

AuditSpool::~AuditSpool() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<AuditSpool> AuditSpool::open(const std::string& dir, uint64_t compact_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::UnavailableError("cannot create spool directory " + dir + ": " + ec.message());
  AuditSpool spool;
  spool.dir_ = dir;
  spool.file_ = dir + "/events.spool";
  spool.compact_bytes_ = compact_bytes;
  if (auto st = spool.load(); !st.ok()) return st;
  return spool;
}

absl::Status AuditSpool::load() {
  uint64_t acked = 0;
  {
    std::ifstream seq(dir_ + "/sequence");
    if (seq) seq >> last_sequence_ >> acked;
  }
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return ioError("cannot open spool", file_);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return ioError("cannot stat", file_);
  const auto size = static_cast<uint64_t>(st.st_size);
  // Only the headers are needed: read in chunks, payloads skipped.
  uint64_t pos = 0;
  uint64_t window = 0;  // file offset of read_buf_[0]
  size_t window_bytes = 0;
  while (size - pos >= kHeaderBytes) {
    if (pos < window || pos + kHeaderBytes > window + window_bytes) {
      auto got = readAt(pos, static_cast<size_t>(std::min<uint64_t>(kLoadChunk, size - pos)));
      if (!got.ok()) return got.status();
      window = pos;
      window_bytes = *got;
      if (window_bytes < kHeaderBytes) break;
    }
    const char* h = read_buf_.get() + (pos - window);
    const uint32_t len = getU32(h);
    const uint64_t seq = getU64(h + 4);
    if (len > size - pos - kHeaderBytes || seq == 0) break;  // torn tail
    // A sequence not above the one before can only come from damage: it could not be replayed
    // (the control plane drops it as a duplicate), and the order must hold for read().
    if (seq > acked && (pending_.empty() || seq > pending_.back().sequence)) {
      pending_.push_back({seq, pos, len});
      pending_bytes_ += len;
    }
    if (seq > last_sequence_) last_sequence_ = seq;
    pos += kHeaderBytes + len;
  }
  // Cut a torn tail so later appends follow the last whole record.
  if (::ftruncate(fd_, static_cast<off_t>(pos)) != 0) return ioError("cannot truncate", file_);
  if (::lseek(fd_, 0, SEEK_END) < 0) return ioError("cannot seek", file_);
  file_bytes_ = pos;
  return absl::OkStatus();
}

absl::Status AuditSpool::append(uint64_t sequence, std::string_view bytes) {
  if (sequence != last_sequence_ + 1) {
    return absl::InternalError("spool sequence " + std::to_string(sequence) + " after " +
                               std::to_string(last_sequence_));
  }
  char header[kHeaderBytes];
  putU32(header, static_cast<uint32_t>(bytes.size()));
  putU64(header + 4, sequence);
  // A failed write may have left part of a record: the file must end on a whole record before
  // anything follows, or a restart would stop reading at the fragment.
  if (torn_ && (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0 ||
                ::lseek(fd_, static_cast<off_t>(file_bytes_), SEEK_SET) < 0)) {
    return ioError("cannot cut a partial record from", file_);
  }
  torn_ = false;
  if (auto st = writeRecord(fd_, header, bytes, file_); !st.ok()) {
    torn_ = true;
    return st;
  }
  pending_.push_back({sequence, file_bytes_, static_cast<uint32_t>(bytes.size())});
  pending_bytes_ += bytes.size();
  file_bytes_ += kHeaderBytes + bytes.size();
  last_sequence_ = sequence;
  return absl::OkStatus();
}

absl::StatusOr<size_t> AuditSpool::readAt(uint64_t offset, size_t size) {
  if (size > read_capacity_) {
    read_buf_.reset(new char[size]);  // not value-initialised: untouched pages stay unmapped
    read_capacity_ = size;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd_, read_buf_.get() + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot read", file_);
    }
    if (n == 0) break;  // end of file
    got += static_cast<size_t>(n);
  }
  return got;
}

absl::StatusOr<std::span<const AuditSpool::Record>> AuditSpool::read(uint64_t after,
                                                                     size_t max_bytes,
                                                                     size_t max_records) {
  records_.clear();
  auto first = std::upper_bound(pending_.begin(), pending_.end(), after,
                                [](uint64_t a, const Slot& s) { return a < s.sequence; });
  if (first == pending_.end() || max_records == 0) return std::span<const Record>();
  auto end = first;
  size_t payload = 0;
  while (end != pending_.end() && records_.size() < max_records &&
         (records_.empty() || payload + end->length <= max_bytes)) {
    payload += end->length;
    records_.push_back({end->sequence, {}, true, end->length});
    ++end;
  }
  const auto& last = *std::prev(end);
  const uint64_t begin = first->offset;
  auto got = readAt(begin, static_cast<size_t>(last.offset + kHeaderBytes + last.length - begin));
  if (!got.ok()) {
    records_.clear();
    return got.status();
  }
  size_t i = 0;
  for (auto it = first; it != end; ++it, ++i) {
    Record& r = records_[i];
    const size_t at = static_cast<size_t>(it->offset - begin);
    const char* h = read_buf_.get() + at;
    // The header must still say what was written: anything else means the file was cut or
    // overwritten under the sidecar, and these bytes are not that record.
    if (at + kHeaderBytes + it->length > *got || getU32(h) != it->length ||
        getU64(h + 4) != it->sequence) {
      r.intact = false;
      continue;
    }
    r.bytes = std::string_view(h + kHeaderBytes, it->length);
  }
  return std::span<const Record>(records_);
}

absl::Status AuditSpool::sync() {
  if (::fdatasync(fd_) != 0) return ioError("cannot sync", file_);
  return absl::OkStatus();
}

absl::Status AuditSpool::saveSequence(bool durable) {
  std::string tmp = dir_ + "/sequence.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot write", tmp);
  uint64_t acked = pending_.empty() ? last_sequence_ : pending_.front().sequence - 1;
  std::string text = std::to_string(last_sequence_) + " " + std::to_string(acked) + "\n";
  auto st = writeAll(fd, text.data(), text.size(), tmp);
  if (st.ok() && durable && ::fsync(fd) != 0) st = ioError("cannot sync", tmp);
  ::close(fd);
  if (!st.ok()) return st;
  if (::rename(tmp.c_str(), (dir_ + "/sequence").c_str()) != 0)
    return ioError("cannot rename", tmp);
  return absl::OkStatus();
}

absl::Status AuditSpool::acknowledge(uint64_t sequence) {
  bool dropped = false;
  while (!pending_.empty() && pending_.front().sequence <= sequence) {
    pending_bytes_ -= pending_.front().length;
    pending_.pop_front();
    dropped = true;
  }
  if (!dropped) return absl::OkStatus();
  if (pending_.empty()) {
    // Everything is stored centrally: remember the numbering, then empty the file.
    if (auto st = saveSequence(true); !st.ok()) return st;
    if (::ftruncate(fd_, 0) != 0) return ioError("cannot truncate", file_);
    if (::lseek(fd_, 0, SEEK_SET) < 0) return ioError("cannot seek", file_);
    file_bytes_ = 0;
    torn_ = false;
    return absl::OkStatus();
  }
  if (file_bytes_ > compact_bytes_ &&
      file_bytes_ > 2 * (pending_bytes_ + kHeaderBytes * pending_.size())) {
    return rewrite();
  }
  // Not synced: losing it after a crash only means replaying events the control plane
  // already holds, which it drops as duplicates.
  return saveSequence(false);
}

absl::Status AuditSpool::rewrite() {
  if (auto st = saveSequence(true); !st.ok()) return st;
  std::string tmp = file_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot write", tmp);
  // The unacknowledged records are the file's tail: copied as they are, a chunk at a time.
  const uint64_t from = pending_.front().offset;
  absl::Status st;
  for (uint64_t pos = from; st.ok() && pos < file_bytes_;) {
    auto got = readAt(pos, static_cast<size_t>(std::min<uint64_t>(kCopyChunk, file_bytes_ - pos)));
    if (!got.ok()) {
      st = got.status();
    } else if (*got == 0) {
      st = absl::DataLossError("spool " + file_ + " is shorter than what was written to it");
    } else {
      st = writeAll(fd, read_buf_.get(), *got, tmp);
      pos += *got;
    }
  }
  if (st.ok() && ::fsync(fd) != 0) st = ioError("cannot sync", tmp);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  if (::rename(tmp.c_str(), file_.c_str()) != 0) {
    ::close(fd);
    return ioError("cannot rename", tmp);
  }
  ::close(fd_);
  fd_ = fd;  // at the copy's end, where appends go
  for (auto& slot : pending_) slot.offset -= from;
  file_bytes_ -= from;
  torn_ = false;
  return absl::OkStatus();
}

}  // namespace tollgate::sidecar::cp
