// Authenticator: bootstrap secret or verified JWT, mapped by issuer kind.
#include "controlplane/identity/authenticator.h"

#include "absl/status/status.h"
#include "controlplane/identity/identity_mapper.h"

namespace tollgate::controlplane::identity {

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::create(const IdentityConfig& config,
                                                                     ClockPtr clock) {
  if (absl::Status s = validateIdentityConfig(config); !s.ok()) return s;
  std::vector<KeySourcePtr> sources;
  for (const IssuerConfig& is : config.issuers) {
    if (is.discovery) {
      HttpsGetOptions https;
      https.ca_file = is.ca_file;
      sources.push_back(
          std::make_shared<DiscoveryKeySource>(is.issuer, https, clock, is.refresh_interval));
    } else {
      sources.push_back(std::make_shared<FileKeySource>(is.jwks_file));
    }
  }
  return createWithSources(config, std::move(sources), std::move(clock));
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::createWithSources(
    const IdentityConfig& config, std::vector<KeySourcePtr> sources, ClockPtr clock) {
  if (sources.size() != config.issuers.size()) {
    return absl::InvalidArgumentError("identity: one key source per issuer expected");
  }
  std::vector<TrustedIssuer> trusted;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!sources[i]) return absl::InvalidArgumentError("identity: null key source");
    trusted.push_back({config.issuers[i].issuer, config.issuers[i].audience, sources[i]});
  }
  std::optional<BootstrapToken> bootstrap;
  if (!config.bootstrap_token_file.empty()) {
    absl::StatusOr<BootstrapToken> t = BootstrapToken::loadFile(config.bootstrap_token_file);
    if (!t.ok()) return t.status();
    bootstrap = *t;
  }
  auto verifier =
      std::make_unique<JwtVerifier>(std::move(trusted), std::move(clock), config.leeway);
  return std::unique_ptr<Authenticator>(new Authenticator(config, std::move(verifier), bootstrap));
}

absl::StatusOr<v1::Identity> Authenticator::authenticate(std::string_view bearer) const {
  if (bootstrap_ && bootstrap_->matches(bearer)) return bootstrapIdentity();
  absl::StatusOr<VerifiedJwt> jwt = verifier_->verify(bearer);
  if (!jwt.ok()) return jwt.status();
  const IssuerConfig& is = config_.issuers[jwt->issuer_index];
  if (is.kind == PrincipalKind::kWorkload) return workloadIdentity(jwt->issuer, jwt->claims);
  return humanIdentity(jwt->issuer, jwt->claims, is.groups_claim, config_.group_roles);
}

}  // namespace tollgate::controlplane::identity
