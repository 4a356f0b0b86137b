// Big-endian readers and writers for PostgreSQL v3 wire fields (Int8/16/32, String, Byten).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tollgate::sidecar::postgres {

// Every typed message starts with a one-byte type and an Int32 length that counts itself but
// not the type byte; startup-phase packets have no type byte.
inline constexpr size_t kHeaderSize = 5;
inline constexpr size_t kLengthSize = 4;

inline uint16_t loadU16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}

inline uint32_t loadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (static_cast<uint32_t>(u[0]) << 24) | (static_cast<uint32_t>(u[1]) << 16) |
         (static_cast<uint32_t>(u[2]) << 8) | static_cast<uint32_t>(u[3]);
}

inline void storeU16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}

inline void storeU32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

// Cursor over one message payload. Every read checks bounds; after the first failed read
// ok() is false and further reads return zero values, so a parser can read a whole layout and
// check ok() once. Views returned point into the data given to the constructor.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool ok() const { return ok_; }
  bool atEnd() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  // The unread rest of the payload (empty after a failure).
  std::string_view rest() const { return ok_ ? data_.substr(pos_) : std::string_view(); }

  uint8_t readU8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(data_[pos_++]);
  }
  int16_t readI16() { return static_cast<int16_t>(readU16()); }
  uint16_t readU16() {
    if (!need(2)) return 0;
    uint16_t v = loadU16(data_.data() + pos_);
    pos_ += 2;
    return v;
  }
  int32_t readI32() { return static_cast<int32_t>(readU32()); }
  uint32_t readU32() {
    if (!need(4)) return 0;
    uint32_t v = loadU32(data_.data() + pos_);
    pos_ += 4;
    return v;
  }
  // A NUL-terminated String; the view excludes the terminator.
  std::string_view readCString() {
    if (!ok_) return {};
    size_t nul = data_.find('\0', pos_);
    if (nul == std::string_view::npos) {
      ok_ = false;
      return {};
    }
    std::string_view s = data_.substr(pos_, nul - pos_);
    pos_ = nul + 1;
    return s;
  }
  std::string_view readBytes(size_t n) {
    if (!need(n)) return {};
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void fail() { ok_ = false; }

 private:
  bool need(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Builds one typed message (or an untyped startup packet) into a std::string, fixing up the
// length field in finish(). Appending after finish() starts nothing new; use one per message.
class MessageWriter {
 public:
  // type == 0 writes an untyped startup-phase packet (length first).
  explicit MessageWriter(std::string* out, char type) : out_(out) {
    if (type != 0) out_->push_back(type);
    length_at_ = out_->size();
    out_->append(kLengthSize, '\0');
  }

  MessageWriter& u8(uint8_t v) {
    out_->push_back(static_cast<char>(v));
    return *this;
  }
  MessageWriter& i16(int16_t v) { return u16(static_cast<uint16_t>(v)); }
  MessageWriter& u16(uint16_t v) {
    char b[2];
    storeU16(b, v);
    out_->append(b, 2);
    return *this;
  }
  MessageWriter& i32(int32_t v) { return u32(static_cast<uint32_t>(v)); }
  MessageWriter& u32(uint32_t v) {
    char b[4];
    storeU32(b, v);
    out_->append(b, 4);
    return *this;
  }
  // Writes s and a NUL terminator. A String field cannot hold NUL, so s is cut at its first
  // NUL rather than producing a message the peer would read differently.
  MessageWriter& cstring(std::string_view s) {
    out_->append(s.substr(0, s.find('\0')));
    out_->push_back('\0');
    return *this;
  }
  MessageWriter& bytes(std::string_view s) {
    out_->append(s);
    return *this;
  }
  // Patches the length field. Call once, after the last field.
  void finish() {
    storeU32(out_->data() + length_at_, static_cast<uint32_t>(out_->size() - length_at_));
  }

 private:
  std::string* out_;
  size_t length_at_;
};

}  // namespace tollgate::sidecar::postgres
