// Typed-message framing (Byte1 type, Int32 length) and the streamed-passthrough counter.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

// What is at the front of an input buffer.
struct Frame {
  enum class Kind {
    kNoHeader,    // fewer than 5 bytes
    kIncomplete,  // header read, body not all there
    kComplete,    // the whole message is in the input
    kBadLength,   // length field < 4
    kTooLarge,    // length field > limit
  };
  Kind kind = Kind::kNoHeader;
  char type = 0;
  uint32_t length = 0;  // the length field (counts itself, not the type byte)
  size_t size() const { return 1 + static_cast<size_t>(length); }
};

inline Frame peekFrame(std::string_view input, uint32_t max_length) {
  Frame f;
  if (input.size() < kHeaderSize) return f;
  f.type = input[0];
  f.length = loadU32(input.data() + 1);
  if (f.length < kLengthSize) {
    f.kind = Frame::Kind::kBadLength;
  } else if (f.length > max_length) {
    f.kind = Frame::Kind::kTooLarge;
  } else {
    f.kind = input.size() >= f.size() ? Frame::Kind::kComplete : Frame::Kind::kIncomplete;
  }
  return f;
}

// Counts down the bytes of a message being streamed through without buffering.
class Passthrough {
 public:
  bool active() const { return remaining_ > 0; }
  void start(size_t total) { remaining_ = total; }
  // Takes up to `available` bytes of the streamed message; returns how many.
  size_t take(size_t available) {
    size_t n = std::min(remaining_, available);
    remaining_ -= n;
    return n;
  }

 private:
  size_t remaining_ = 0;
};

}  // namespace tollgate::sidecar::postgres
