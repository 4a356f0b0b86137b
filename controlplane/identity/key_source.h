// Where an issuer's verification keys come from: a JWKS file or OIDC discovery over HTTPS.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/identity/https_client.h"
#include "controlplane/identity/jwks.h"

namespace tollgate::controlplane::identity {

using JwksPtr = std::shared_ptr<const Jwks>;

// A source of one issuer's keys. Implementations are thread-safe; the returned set is
// immutable and stays valid for as long as the caller holds it.
class KeySource {
 public:
  virtual ~KeySource() = default;
  // The current key set. May re-read or re-fetch it (see each implementation). Fails with
  // UNAVAILABLE when no key set has ever been loaded; after that the last good set is kept
  // when a reload fails (the failure is logged).
  virtual absl::StatusOr<JwksPtr> keys() = 0;
  // Called when a token names a kid the current set lacks: a remote source fetches again,
  // rate-limited; the default just returns keys().
  virtual absl::StatusOr<JwksPtr> keysAfterUnknownKid() { return keys(); }
};
using KeySourcePtr = std::shared_ptr<KeySource>;

// A JWKS file (e.g. the cluster's /openid/v1/jwks saved to a ConfigMap). Every keys() call
// stats the file and re-reads it when its inode, size or mtime changed, so replacing the
// file (rename or rewrite) rotates keys at once. A file that fails to parse after a change
// keeps the previous set and is retried on the next change.
class FileKeySource : public KeySource {
 public:
  explicit FileKeySource(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<JwksPtr> keys() override;

 private:
  struct Stamp {
    uint64_t ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  const std::string path_;
  std::mutex mu_;
  JwksPtr current_;
  Stamp stamp_;
  bool tried_ = false;
  absl::Status last_error_;
};

// OIDC discovery (OpenID Connect Discovery 1.0): GET <issuer>/.well-known/openid-configuration,
// check its `issuer` equals the configured issuer exactly, then GET its `jwks_uri` (must be
// https). Keys are fetched at the first keys() call, again after `refresh_interval`, and again
// on an unknown kid but at most once per `min_refetch` (so forged kids cannot make the control
// plane hammer the IdP). The fetch happens on the calling thread, under a lock, bounded by
// https.timeout per request. Time comes from `clock` (monotonic), so tests need no sleeping.
class DiscoveryKeySource : public KeySource {
 public:
  DiscoveryKeySource(std::string issuer, HttpsGetOptions https, ClockPtr clock,
                     std::chrono::seconds refresh_interval = std::chrono::hours(1),
                     std::chrono::seconds min_refetch = std::chrono::seconds(30));
  absl::StatusOr<JwksPtr> keys() override;
  absl::StatusOr<JwksPtr> keysAfterUnknownKid() override;

  // The jwks_uri found by the last successful discovery (empty before). For diagnostics.
  std::string jwksUri();

 private:
  absl::StatusOr<JwksPtr> get(bool unknown_kid);
  absl::StatusOr<JwksPtr> fetch();

  const std::string issuer_;
  const HttpsGetOptions https_;
  const ClockPtr clock_;
  const std::chrono::seconds refresh_interval_;
  const std::chrono::seconds min_refetch_;
  std::mutex mu_;
  JwksPtr current_;
  std::string jwks_uri_;
  bool attempted_ = false;
  std::chrono::steady_clock::time_point last_attempt_{};
  std::chrono::steady_clock::time_point loaded_at_{};
};

// Parses an OIDC discovery document: returns its `jwks_uri` after checking `issuer` equals
// `expected_issuer` and the URI is https://. INVALID_ARGUMENT naming what is wrong.
absl::StatusOr<std::string> jwksUriFromDiscovery(std::string_view document,
                                                 const std::string& expected_issuer);

}  // namespace tollgate::controlplane::identity
