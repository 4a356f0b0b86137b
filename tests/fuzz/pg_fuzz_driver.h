// Shared harness for the PostgreSQL decoder fuzz targets: chunked feeding and invariants.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/postgres/buffer.h"
#include "sidecar/postgres/decoder.h"
#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres::fuzz {

// Stops the process loudly: the fuzzer records the input.
inline void check(bool ok) {
  if (!ok) std::abort();
}

// Input layout: byte 0 = options for the target, bytes 1..4 = seed for the chunk sizes,
// the rest = the byte stream. Chunks are 1..64 bytes, or the whole rest when the seed's low
// bits say so, so both split and whole reads are exercised.
struct FuzzInput {
  uint8_t options = 0;
  uint32_t seed = 0;
  std::string_view stream;
};

inline FuzzInput splitInput(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (size < 5) {
    in.stream = std::string_view(reinterpret_cast<const char*>(data), size);
    return in;
  }
  in.options = data[0];
  in.seed = loadU32(reinterpret_cast<const char*>(data) + 1);
  in.stream = std::string_view(reinterpret_cast<const char*>(data) + 5, size - 5);
  return in;
}

// Feeds `stream` to `decode` (a callable taking the unconsumed bytes) in chunks and checks
// the decoder's outcome contract. `after` is called after each result for target checks.
template <typename Decode, typename After>
void feedInChunks(const FuzzInput& in, Decode&& decode, After&& after) {
  Buffer buf;
  uint32_t state = in.seed | 1;
  size_t fed = 0;
  size_t total_consumed = 0;
  bool failed = false;
  while (fed < in.stream.size()) {
    state = state * 1103515245u + 12345u;
    size_t chunk = (state >> 16) % 8 == 0 ? in.stream.size() : 1 + (state >> 8) % 64;
    chunk = std::min(chunk, in.stream.size() - fed);
    buf.append(in.stream.substr(fed, chunk));
    fed += chunk;
    for (int guard = 0;; ++guard) {
      check(guard <= static_cast<int>(in.stream.size()) + 2);  // progress each round
      DecodeResult r = decode(buf.view());
      check(r.consumed <= buf.size());
      after(r, buf.view());
      if (failed) check(r.status == DecodeStatus::kError && r.consumed == 0);
      if (r.status == DecodeStatus::kError) {
        check(r.consumed == 0);
        failed = true;
        break;
      }
      if (r.status == DecodeStatus::kNeedMoreData) {
        check(r.consumed == 0);
        break;
      }
      check(r.consumed > 0);
      total_consumed += r.consumed;
      buf.consume(r.consumed);
    }
  }
  check(total_consumed <= fed);
  check(total_consumed + buf.size() == fed);
}

}  // namespace tollgate::sidecar::postgres::fuzz
