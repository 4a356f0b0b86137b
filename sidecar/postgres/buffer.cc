// Buffer growth and compaction policy.
#include "sidecar/postgres/buffer.h"

#include <algorithm>
#include <cstring>

namespace tollgate::sidecar::postgres {

namespace {
constexpr size_t kMinCapacity = 512;
}  // namespace

void Buffer::append(std::string_view bytes) {
  if (bytes.empty()) return;
  ensureTail(bytes.size());
  std::memcpy(storage_.get() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

char* Buffer::writable(size_t n) {
  ensureTail(n);
  return storage_.get() + end_;
}

void Buffer::reserve(size_t total) {
  if (total <= size()) return;
  if (capacity_ - begin_ >= total) return;
  const size_t live = size();
  if (capacity_ >= total && begin_ >= live) {  // as in ensureTail: the move costs little
    std::memmove(storage_.get(), storage_.get() + begin_, live);
    begin_ = 0;
    end_ = live;
    return;
  }
  std::unique_ptr<char[]> exact(new char[std::max(kMinCapacity, total)]);
  if (live > 0) std::memcpy(exact.get(), storage_.get() + begin_, live);
  storage_ = std::move(exact);
  capacity_ = std::max(kMinCapacity, total);
  begin_ = 0;
  end_ = live;
}

void Buffer::consume(size_t n) {
  n = std::min(n, size());
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
}

void Buffer::shrinkIfIdle(size_t keep_bytes) {
  if (empty() && capacity_ > keep_bytes) {
    storage_.reset();
    capacity_ = 0;
    begin_ = end_ = 0;
  }
}

void Buffer::ensureTail(size_t n) {
  if (capacity_ - end_ >= n) return;
  size_t live = size();
  // Compacting is enough when the gap at the front covers the request and the live bytes are
  // no more than the gap (so the memmove costs less than the bytes already consumed).
  if (capacity_ - live >= n && begin_ >= live) {
    std::memmove(storage_.get(), storage_.get() + begin_, live);
    begin_ = 0;
    end_ = live;
    return;
  }
  size_t want = std::max({kMinCapacity, capacity_ * 2, live + n});
  std::unique_ptr<char[]> grown(new char[want]);
  if (live > 0) std::memcpy(grown.get(), storage_.get() + begin_, live);
  storage_ = std::move(grown);
  capacity_ = want;
  begin_ = 0;
  end_ = live;
}

}  // namespace tollgate::sidecar::postgres
