// The local CA that mints per-destination server certificates when the sidecar terminates TLS.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "sidecar/tls/openssl_util.h"
#include "sidecar/tls/server_context.h"
#include "sidecar/tls/server_name.h"

namespace tollgate::sidecar::tls {

struct CertificateAuthorityOptions {
  // Leaf validity is [now - backdate, now + validity]; backdating absorbs client clock skew.
  std::chrono::seconds validity = std::chrono::hours(24);
  std::chrono::seconds backdate = std::chrono::minutes(5);
  // A cached leaf is replaced once less than this is left before its notAfter.
  std::chrono::seconds renew_before = std::chrono::hours(1);
  // Names kept in the cache (least recently used dropped first). At least 1.
  size_t cache_capacity = 1024;
  ClockPtr clock;  // null means the system clock
};

// Holds the CA certificate and key. Thread-safe: every worker loop may call serverContextFor
// concurrently.
class CertificateAuthority {
 public:
  // Loads PEM files. Fails when a file is missing or unreadable, the key does not match the
  // certificate, or the certificate is not a CA (basicConstraints CA:TRUE / keyCertSign).
  static absl::StatusOr<std::shared_ptr<CertificateAuthority>> load(
      const std::string& ca_cert_file, const std::string& ca_key_file,
      CertificateAuthorityOptions options = {});

  // A server context presenting a certificate for `name` (DNS name or IP literal, parsed by
  // parseServerName), minted on first use and cached. The same name (after canonicalisation:
  // case, trailing dot, IPv6 brackets) yields the same object until it nears expiry or is
  // evicted. InvalidArgument for names that are not a valid DNS name or IP.
  absl::StatusOr<ServerContextPtr> serverContextFor(const std::string& name);

  // Number of certificates minted so far (for metrics and tests).
  size_t mintedCount() const;
  // Borrowed CA certificate; lives as long as this object.
  X509* caCertificate() const { return cert_.get(); }

 private:
  CertificateAuthority(X509Ptr cert, PkeyPtr key, CertificateAuthorityOptions options);
  absl::StatusOr<ServerContextPtr> mint(const ServerName& name);

  struct Entry {
    ServerContextPtr context;
    std::list<std::string>::iterator lru;
  };

  const X509Ptr cert_;
  const PkeyPtr key_;
  const CertificateAuthorityOptions options_;
  const bool send_ca_in_chain_;  // only when the CA is an intermediate (not self-signed)

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // guarded by mu_
  std::list<std::string> lru_;                    // most recent first; guarded by mu_
  size_t minted_ = 0;                             // guarded by mu_
};
using CertificateAuthorityPtr = std::shared_ptr<CertificateAuthority>;

}  // namespace tollgate::sidecar::tls
