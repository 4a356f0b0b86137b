// Fuzz target: the credential file parser ("username:password" or YAML). It must never crash
// and never accept a credential without a user name.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sidecar/credentials.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string content(reinterpret_cast<const char*>(data), size);
  auto parsed = tollgate::sidecar::FileCredentialStore::parse(content, "fuzz");
  if (parsed.ok() && parsed->username.empty()) std::abort();
  // An error names the file and never echoes the content (a secret): it is always this text.
  static const std::string kExpected =
      "credential file fuzz must hold 'username:password' or YAML {username: ..., password: ...}";
  if (!parsed.ok() && std::string(parsed.status().message()) != kExpected) std::abort();
  return 0;
}
