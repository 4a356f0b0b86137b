// Random session ids.
#include "sidecar/events/session_id.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"

namespace tollgate::sidecar {

std::string newSessionId() {
  unsigned char raw[8] = {};
  RAND_bytes(raw, sizeof(raw));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

}  // namespace tollgate::sidecar
