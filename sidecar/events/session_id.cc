// Random session ids.
#include "sidecar/events/session_id.h"

#include <openssl/rand.h>

namespace tollgate::sidecar {

std::string newSessionId() {
  unsigned char raw[8] = {};
  RAND_bytes(raw, sizeof(raw));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof(raw));
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace tollgate::sidecar
