// Key sources: a watched JWKS file and OIDC discovery over HTTPS.
#include "controlplane/identity/key_source.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "common/log.h"
#include "controlplane/identity/strict_json.h"

namespace tollgate::controlplane::identity {

absl::StatusOr<JwksPtr> FileKeySource::keys() {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) {
    if (current_) return current_;
    return absl::UnavailableError("JWKS file " + path_ + ": cannot stat");
  }
  Stamp now{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (tried_ && now == stamp_) {
    if (current_) return current_;
    return absl::UnavailableError(std::string(last_error_.message()));
  }
  tried_ = true;
  stamp_ = now;
  std::ifstream in(path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<Jwks> parsed =
      in ? parseJwks(text.str()) : absl::StatusOr<Jwks>(absl::UnavailableError("cannot read"));
  if (!parsed.ok()) {
    last_error_ = absl::UnavailableError("JWKS file " + path_ + ": " +
                                         std::string(parsed.status().message()));
    log::warn("identity: JWKS file not loaded, keeping the previous keys",
              {{"file", path_}, {"error", std::string(parsed.status().message())}});
    if (current_) return current_;
    return last_error_;
  }
  current_ = std::make_shared<const Jwks>(std::move(*parsed));
  log::info("identity: JWKS file loaded",
            {{"file", path_}, {"keys", std::to_string(current_->keys().size())}});
  return current_;
}

absl::StatusOr<std::string> jwksUriFromDiscovery(std::string_view document,
                                                 const std::string& expected_issuer) {
  absl::StatusOr<nlohmann::json> doc = parseStrictJsonObject(document, "discovery document");
  if (!doc.ok()) return doc.status();
  auto iss = doc->find("issuer");
  if (iss == doc->end() || !iss->is_string() ||
      iss->get_ref<const std::string&>() != expected_issuer) {
    return absl::InvalidArgumentError("discovery document: \"issuer\" does not equal " +
                                      expected_issuer);
  }
  auto uri = doc->find("jwks_uri");
  if (uri == doc->end() || !uri->is_string()) {
    return absl::InvalidArgumentError("discovery document: no \"jwks_uri\"");
  }
  const std::string& u = uri->get_ref<const std::string&>();
  if (u.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError("discovery document: jwks_uri is not https://");
  }
  return u;
}

DiscoveryKeySource::DiscoveryKeySource(std::string issuer, HttpsGetOptions https, ClockPtr clock,
                                       std::chrono::seconds refresh_interval,
                                       std::chrono::seconds min_refetch)
    : issuer_(std::move(issuer)),
      https_(std::move(https)),
      clock_(std::move(clock)),
      refresh_interval_(refresh_interval),
      min_refetch_(min_refetch) {}

absl::StatusOr<JwksPtr> DiscoveryKeySource::keys() { return get(false); }
absl::StatusOr<JwksPtr> DiscoveryKeySource::keysAfterUnknownKid() { return get(true); }

std::string DiscoveryKeySource::jwksUri() {
  std::lock_guard<std::mutex> lock(mu_);
  return jwks_uri_;
}

absl::StatusOr<JwksPtr> DiscoveryKeySource::get(bool unknown_kid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_->monotonic();
  bool stale = current_ && now - loaded_at_ >= refresh_interval_;
  bool may_fetch = !attempted_ || now - last_attempt_ >= min_refetch_;
  if ((!current_ || stale || unknown_kid) && may_fetch) {
    attempted_ = true;
    last_attempt_ = now;
    absl::StatusOr<JwksPtr> fetched = fetch();
    if (fetched.ok()) {
      current_ = *fetched;
      loaded_at_ = now;
    } else {
      log::warn("identity: JWKS discovery failed",
                {{"issuer", issuer_}, {"error", std::string(fetched.status().message())}});
      if (!current_) return fetched.status();
    }
  }
  if (!current_) {
    return absl::UnavailableError("issuer " + issuer_ + ": keys not fetched yet (retry later)");
  }
  return current_;
}

absl::StatusOr<JwksPtr> DiscoveryKeySource::fetch() {
  std::string base = issuer_;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string where = "issuer " + issuer_ + ": ";
  absl::StatusOr<HttpsResponse> disc = httpsGet(base + "/.well-known/openid-configuration", https_);
  if (!disc.ok()) return absl::UnavailableError(where + std::string(disc.status().message()));
  if (disc->status != 200) {
    return absl::UnavailableError(where + "discovery returned HTTP " +
                                  std::to_string(disc->status));
  }
  absl::StatusOr<std::string> uri = jwksUriFromDiscovery(disc->body, issuer_);
  if (!uri.ok()) return absl::UnavailableError(where + std::string(uri.status().message()));
  absl::StatusOr<HttpsResponse> jwks = httpsGet(*uri, https_);
  if (!jwks.ok()) return absl::UnavailableError(where + std::string(jwks.status().message()));
  if (jwks->status != 200) {
    return absl::UnavailableError(where + "jwks_uri returned HTTP " + std::to_string(jwks->status));
  }
  absl::StatusOr<Jwks> parsed = parseJwks(jwks->body);
  if (!parsed.ok()) return absl::UnavailableError(where + std::string(parsed.status().message()));
  jwks_uri_ = *uri;
  return std::make_shared<const Jwks>(std::move(*parsed));
}

}  // namespace tollgate::controlplane::identity
