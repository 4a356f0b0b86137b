// Loading the local CA, minting leaves on demand and caching them per name.
#include "sidecar/tls/certificate_authority.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "sidecar/tls/leaf_certificate.h"
#include "sidecar/tls/server_name.h"

namespace tollgate::sidecar::tls {

absl::StatusOr<std::shared_ptr<CertificateAuthority>> CertificateAuthority::load(
    const std::string& ca_cert_file, const std::string& ca_key_file,
    CertificateAuthorityOptions options) {
  auto cert = readCertificateFile(ca_cert_file);
  if (!cert.ok()) return cert.status();
  auto key = readPrivateKeyFile(ca_key_file);
  if (!key.ok()) return key.status();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("CA key " + ca_key_file + " does not match " + ca_cert_file);
  }
  if (X509_check_ca(cert->get()) == 0) {
    return absl::InvalidArgumentError(ca_cert_file + " is not a CA certificate");
  }
  if (options.cache_capacity == 0) options.cache_capacity = 1;
  if (options.validity <= std::chrono::seconds(0)) {
    return absl::InvalidArgumentError("certificate validity must be positive");
  }
  if (!options.clock) options.clock = systemClock();
  return std::shared_ptr<CertificateAuthority>(
      new CertificateAuthority(std::move(*cert), std::move(*key), std::move(options)));
}

CertificateAuthority::CertificateAuthority(X509Ptr cert, PkeyPtr key,
                                           CertificateAuthorityOptions options)
    : cert_(std::move(cert)),
      key_(std::move(key)),
      options_(std::move(options)),
      send_ca_in_chain_(X509_check_issued(cert_.get(), cert_.get()) != X509_V_OK) {}

absl::StatusOr<ServerContextPtr> CertificateAuthority::serverContextFor(const std::string& name) {
  auto parsed = parseServerName(name);
  if (!parsed.ok()) return parsed.status();
  const std::string key = parsed->text;
  const auto now = options_.clock->now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (it->second.context->notAfter() - options_.renew_before > now) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return it->second.context;
      }
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
  }
  // Mint outside the lock so one slow mint does not stall other loops. Two loops racing on
  // one new name may both mint; the first to insert wins and both get its context.
  auto minted = mint(*parsed);
  if (!minted.ok()) return minted.status();
  std::lock_guard<std::mutex> lock(mu_);
  ++minted_;
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second.context;
  lru_.push_front(key);
  cache_.emplace(key, Entry{*minted, lru_.begin()});
  while (cache_.size() > options_.cache_capacity) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  return *minted;
}

absl::StatusOr<ServerContextPtr> CertificateAuthority::mint(const ServerName& name) {
  auto leaf_key = newLeafKey();
  if (!leaf_key.ok()) return leaf_key.status();
  const auto now = options_.clock->now();
  LeafRequest request{name, now - options_.backdate, now + options_.validity};
  auto leaf = mintLeafCertificate(request, cert_.get(), key_.get(), leaf_key->get());
  if (!leaf.ok()) return leaf.status();
  auto ctx = ServerContext::fromObjects(leaf->get(), leaf_key->get(),
                                        send_ca_in_chain_ ? cert_.get() : nullptr);
  if (!ctx.ok()) return ctx.status();
  return ServerContextPtr(*ctx);
}

size_t CertificateAuthority::mintedCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return minted_;
}

}  // namespace tollgate::sidecar::tls
