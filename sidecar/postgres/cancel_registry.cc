// Cancel-key registry with random keys from OpenSSL.
#include "sidecar/postgres/cancel_registry.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace tollgate::sidecar::postgres {

std::pair<int32_t, std::string> CancelRegistry::add(CancelTarget target) {
  std::string secret(4, '\0');
  int32_t pid = 0;
  std::lock_guard lock(mu_);
  do {
    uint32_t raw = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&raw), sizeof(raw));
    pid = static_cast<int32_t>(raw & 0x7fffffff);
  } while (pid == 0 || entries_.contains(pid));
  RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size()));
  entries_[pid] = Entry{secret, std::move(target)};
  return {pid, secret};
}

void CancelRegistry::remove(int32_t process_id) {
  std::lock_guard lock(mu_);
  entries_.erase(process_id);
}

std::optional<CancelTarget> CancelRegistry::find(int32_t process_id,
                                                 const std::string& secret) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(process_id);
  if (it == entries_.end() || it->second.secret.size() != secret.size() ||
      CRYPTO_memcmp(it->second.secret.data(), secret.data(), secret.size()) != 0) {
    return std::nullopt;
  }
  return it->second.target;
}

}  // namespace tollgate::sidecar::postgres
