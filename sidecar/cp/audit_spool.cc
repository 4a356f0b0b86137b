// Audit spool file handling.
#include "sidecar/cp/audit_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
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

void putU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
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
  std::string data;
  {
    std::ifstream in(file_, std::ios::binary);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      data = ss.str();
    }
  }
  size_t pos = 0;
  while (data.size() - pos >= 12) {
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len |= static_cast<uint32_t>(static_cast<uint8_t>(data[pos + i])) << (8 * i);
    uint64_t seq = 0;
    for (int i = 0; i < 8; ++i)
      seq |= static_cast<uint64_t>(static_cast<uint8_t>(data[pos + 4 + i])) << (8 * i);
    if (len > data.size() - pos - 12 || seq == 0) break;  // torn tail
    if (seq > acked) {
      pending_.push_back({seq, data.substr(pos + 12, len)});
      pending_bytes_ += len;
    }
    if (seq > last_sequence_) last_sequence_ = seq;
    pos += 12 + len;
  }
  fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return ioError("cannot open spool", file_);
  // Cut a torn tail so later appends follow the last whole record.
  if (::ftruncate(fd_, static_cast<off_t>(pos)) != 0) return ioError("cannot truncate", file_);
  if (::lseek(fd_, 0, SEEK_END) < 0) return ioError("cannot seek", file_);
  file_bytes_ = pos;
  return absl::OkStatus();
}

absl::Status AuditSpool::append(uint64_t sequence, std::string bytes) {
  if (sequence != last_sequence_ + 1) {
    return absl::InternalError("spool sequence " + std::to_string(sequence) + " after " +
                               std::to_string(last_sequence_));
  }
  std::string rec;
  rec.reserve(12 + bytes.size());
  putU32(rec, static_cast<uint32_t>(bytes.size()));
  for (int i = 0; i < 8; ++i) rec.push_back(static_cast<char>((sequence >> (8 * i)) & 0xff));
  rec += bytes;
  // A failed write may have left part of a record: the file must end on a whole record before
  // anything follows, or a restart would stop reading at the fragment.
  if (torn_ && (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0 ||
                ::lseek(fd_, static_cast<off_t>(file_bytes_), SEEK_SET) < 0)) {
    return ioError("cannot cut a partial record from", file_);
  }
  torn_ = false;
  if (auto st = writeAll(fd_, rec.data(), rec.size(), file_); !st.ok()) {
    torn_ = true;
    return st;
  }
  file_bytes_ += rec.size();
  last_sequence_ = sequence;
  pending_bytes_ += bytes.size();
  pending_.push_back({sequence, std::move(bytes)});
  return absl::OkStatus();
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
    pending_bytes_ -= pending_.front().bytes.size();
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
  if (file_bytes_ > compact_bytes_ && file_bytes_ > 2 * (pending_bytes_ + 12 * pending_.size())) {
    return rewrite();
  }
  // Not synced: losing it after a crash only means replaying events the control plane
  // already holds, which it drops as duplicates.
  return saveSequence(false);
}

absl::Status AuditSpool::rewrite() {
  if (auto st = saveSequence(true); !st.ok()) return st;
  std::string tmp = file_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot write", tmp);
  uint64_t bytes = 0;
  absl::Status st;
  for (const auto& e : pending_) {
    std::string rec;
    putU32(rec, static_cast<uint32_t>(e.bytes.size()));
    for (int i = 0; i < 8; ++i) rec.push_back(static_cast<char>((e.sequence >> (8 * i)) & 0xff));
    rec += e.bytes;
    st = writeAll(fd, rec.data(), rec.size(), tmp);
    if (!st.ok()) break;
    bytes += rec.size();
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
  fd_ = fd;
  if (::lseek(fd_, 0, SEEK_END) < 0) return ioError("cannot seek", file_);
  file_bytes_ = bytes;
  torn_ = false;
  return absl::OkStatus();
}

}  // namespace tollgate::sidecar::cp
