// Invariant checks shared by the fuzz targets: a failed check prints the target, the invariant
// and the input under test (hex), then aborts, so libFuzzer or the replay driver keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tollgate::fuzz {

struct CurrentInput {
  const char* target = "fuzz";
  std::string_view bytes;
};

inline CurrentInput& currentInput() {
  static CurrentInput current;
  return current;
}

// Call first in LLVMFuzzerTestOneInput: names what check() prints on failure.
inline void beginInput(const char* target, std::string_view bytes) {
  currentInput() = {target, bytes};
}

inline void check(bool ok, const char* what) {
  if (ok) return;
  const CurrentInput& in = currentInput();
  std::fprintf(stderr, "%s invariant failed: %s\ninput (hex):", in.target, what);
  for (char c : in.bytes) std::fprintf(stderr, " %02x", static_cast<unsigned char>(c));
  std::fprintf(stderr, "\n");
  std::abort();
}

}  // namespace tollgate::fuzz
