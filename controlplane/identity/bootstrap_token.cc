// Bootstrap token loading and constant-time comparison.
#include "controlplane/identity/bootstrap_token.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"

namespace tollgate::controlplane::identity {
namespace {

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

}  // namespace

absl::StatusOr<BootstrapToken> BootstrapToken::fromSecret(std::string_view secret) {
  if (!secret.empty() && secret.back() == '\n') secret.remove_suffix(1);
  if (!secret.empty() && secret.back() == '\r') secret.remove_suffix(1);
  if (secret.empty()) return absl::FailedPreconditionError("bootstrap token is empty");
  if (secret.size() < kMinBootstrapTokenChars) {
    return absl::FailedPreconditionError("bootstrap token is shorter than " +
                                         std::to_string(kMinBootstrapTokenChars) + " characters");
  }
  for (char c : secret) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::FailedPreconditionError(
          "bootstrap token holds whitespace or control characters");
    }
  }
  return BootstrapToken(sha256(secret));
}

absl::StatusOr<BootstrapToken> BootstrapToken::loadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError("bootstrap token file " + path + ": cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<BootstrapToken> t = fromSecret(text.str());
  if (!t.ok()) {
    return absl::FailedPreconditionError("bootstrap token file " + path + ": " +
                                         std::string(t.status().message()));
  }
  return t;
}

bool BootstrapToken::matches(std::string_view presented) const {
  std::array<unsigned char, 32> d = sha256(presented);
  return !presented.empty() && CRYPTO_memcmp(d.data(), digest_.data(), d.size()) == 0;
}

}  // namespace tollgate::controlplane::identity
