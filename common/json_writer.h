// Appends JSON text to a std::string through a raw pointer. Audit events are written once per
// statement; std::string::append's checks, a few dozen instructions per call, were a third of
// the cost of a line, so the writer makes room once per field and writes bytes directly.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace tollgate::json {

class Writer {
 public:
  // Appends to `out`; while the writer lives, out.size() runs ahead of what was written, and
  // the writer's destructor trims it.
  explicit Writer(std::string& out) : out_(out), used_(out.size()) {}
  ~Writer() { out_.resize(used_); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void put(char c) {
    *room(1) = c;
    ++used_;
  }
  void put(std::string_view s) {
    std::memcpy(room(s.size()), s.data(), s.size());
    used_ += s.size();
  }
  // An object member's name (a plain identifier: not escaped) and its colon, after a comma
  // unless it is the object's first.
  void key(std::string_view name, bool first) {
    char* p = room(name.size() + 4);
    if (!first) *p++ = ',';
    *p++ = '"';
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = '"';
    *p++ = ':';
    used_ = static_cast<size_t>(p - out_.data());
  }
  // `s` as a JSON string literal, quotes included, escaped as RFC 8259 requires. Bytes that
  // are not well-formed UTF-8 become U+FFFD: a JSON line must stay readable.
  void string(std::string_view s);
  template <typename T>
  void number(T v) {
    char* p = room(24);
    used_ = static_cast<size_t>(std::to_chars(p, p + 24, v).ptr - out_.data());
  }

 private:
  // Where `n` more bytes can be written.
  char* room(size_t n) {
    if (out_.size() - used_ < n) grow(n);
    return out_.data() + used_;
  }
  void grow(size_t n);

  std::string& out_;
  size_t used_;
};

}  // namespace tollgate::json
