// Random hex identifiers (see random_id.h).
#include "common/random_id.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace tollgate {

namespace {

constexpr size_t kMaxDigitRun = 11;

}  // namespace

size_t longestDigitRun(const std::string& s) {
  size_t longest = 0, run = 0;
  for (char c : s) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return longest;
}

std::string randomHexId(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  std::string out;
  do {
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();
    out.clear();
    for (unsigned char b : raw) {
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    }
  } while (longestDigitRun(out) > kMaxDigitRun);
  return out;
}

}  // namespace tollgate
