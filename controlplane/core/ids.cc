// Random identifiers from the OpenSSL CSPRNG.
#include "controlplane/core/ids.h"

#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "common/random_id.h"

namespace tollgate::controlplane::core {
namespace {

template <size_t N>
std::array<unsigned char, N> randomBytes() {
  std::array<unsigned char, N> bytes{};
  // RAND_bytes fails only when the CSPRNG cannot be seeded: nothing safe to do but stop.
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1) std::abort();
  return bytes;
}

void appendHex(std::string& out, unsigned char b) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back(kHex[b >> 4]);
  out.push_back(kHex[b & 0xF]);
}

}  // namespace

std::string newUuid() {
  auto b = randomBytes<16>();
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    appendHex(out, b[i]);
  }
  return out;
}

std::string newId(const std::string& prefix) { return prefix + randomHexId(8); }

}  // namespace tollgate::controlplane::core
