// Zero-copy views over the repeated fields of PostgreSQL messages (arrays, value lists).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>

#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

// n big-endian Int16 values stored in place (format codes). The view borrows the message
// bytes: it is valid as long as the message it came from.
class Int16Array {
 public:
  Int16Array() = default;
  Int16Array(uint16_t count, std::string_view raw) : count_(count), raw_(raw) {}
  uint16_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  int16_t operator[](size_t i) const { return static_cast<int16_t>(loadU16(raw_.data() + 2 * i)); }

 private:
  uint16_t count_ = 0;
  std::string_view raw_;
};

// n big-endian Int32 values stored in place (type OIDs).
class OidArray {
 public:
  OidArray() = default;
  OidArray(uint16_t count, std::string_view raw) : count_(count), raw_(raw) {}
  uint16_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  uint32_t operator[](size_t i) const { return loadU32(raw_.data() + 4 * i); }

 private:
  uint16_t count_ = 0;
  std::string_view raw_;
};

// n values each written as Int32 length (-1 for NULL) then that many bytes: Bind parameters,
// FunctionCall arguments, DataRow columns. Parsers validate the layout before making one, so
// iteration does no bounds checks beyond the ones the layout guarantees.
class ValueList {
 public:
  // A value: nullopt for SQL NULL, otherwise a view of its bytes.
  using Value = std::optional<std::string_view>;

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Value;

    Iterator() = default;
    Iterator(const char* p, uint16_t left) : p_(p), left_(left) {}
    Value operator*() const {
      int32_t len = static_cast<int32_t>(loadU32(p_));
      if (len < 0) return std::nullopt;
      return std::string_view(p_ + 4, static_cast<size_t>(len));
    }
    Iterator& operator++() {
      int32_t len = static_cast<int32_t>(loadU32(p_));
      p_ += 4 + (len < 0 ? 0 : static_cast<size_t>(len));
      --left_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const Iterator& o) const { return left_ == o.left_; }

   private:
    const char* p_ = nullptr;
    uint16_t left_ = 0;
  };

  ValueList() = default;
  // raw covers exactly the count values (validated by the parser).
  ValueList(uint16_t count, std::string_view raw) : count_(count), raw_(raw) {}
  uint16_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The encoded values, without the leading count.
  std::string_view raw() const { return raw_; }
  Iterator begin() const { return Iterator(raw_.data(), count_); }
  Iterator end() const { return Iterator(nullptr, 0); }

  // Reads count values from r: returns a view over them, or fails r.
  static ValueList read(WireReader& r, uint16_t count);

 private:
  uint16_t count_ = 0;
  std::string_view raw_;
};

// Reads an Int16 count then that many Int16 values.
Int16Array readInt16Array(WireReader& r);
// Reads an Int16 count then that many Int32 OIDs.
OidArray readOidArray(WireReader& r);

}  // namespace tollgate::sidecar::postgres
