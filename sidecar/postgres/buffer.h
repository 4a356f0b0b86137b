// A growable byte buffer for streaming protocol bytes: append at the back, consume at the front.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

namespace tollgate::sidecar::postgres {

// Contiguous bytes [readable) followed by spare capacity. Consuming from the front is O(1)
// (an offset moves); the unread bytes are moved to the start only when the buffer must grow
// or when the front gap is larger than what is left, so a steady stream of reads and consumes
// does no per-message copying. Not thread-safe: a connection's buffers belong to its loop.
//
// Views and pointers returned by view()/data()/writable() stay valid until the next call that
// may grow or compact the buffer (append, reserve, writable, commit); consume() and clear()
// never move bytes.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;

  const char* data() const { return storage_.get() + begin_; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::string_view view() const { return std::string_view(data(), size()); }
  size_t capacity() const { return capacity_; }

  void append(std::string_view bytes);
  void append(const char* bytes, size_t n) { append(std::string_view(bytes, n)); }

  // Returns a pointer to at least n writable bytes after the readable ones (for a socket
  // read straight into the buffer, e.g. a libuv alloc callback); commit(k) then makes the
  // first k of them readable. k must be <= the n of the last writable() call.
  char* writable(size_t n);
  void commit(size_t n) { end_ += n; }

  // Makes room for `total` readable bytes in all (those there now included), allocated at that
  // size: a large message whose length is known is received without the copies (and the
  // doubled footprint) of growing step by step. Untouched capacity costs no resident memory.
  void reserve(size_t total);

  // Drops n bytes (n <= size()) from the front.
  void consume(size_t n);
  void clear() { begin_ = end_ = 0; }

  // Releases the allocation when empty and larger than keep_bytes, so an idle connection
  // returns to a small footprint after a large message passed through.
  void shrinkIfIdle(size_t keep_bytes);

 private:
  void ensureTail(size_t n);

  std::unique_ptr<char[]> storage_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace tollgate::sidecar::postgres
