// One entry point for control-plane authentication: bearer token in, v1::Identity out.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "controlplane/identity/bootstrap_token.h"
#include "controlplane/identity/identity_config.h"
#include "controlplane/identity/verifier.h"
#include "tollgate/v1/identity.pb.h"

namespace tollgate::controlplane::identity {

// Built once from IdentityConfig; authenticate() is thread-safe.
class Authenticator {
 public:
  // Validates `config`, builds one key source per issuer (FileKeySource, or DiscoveryKeySource
  // with `clock`), and loads the bootstrap token file when configured. Does no network I/O
  // (discovery happens on first use). Errors: INVALID_ARGUMENT / FAILED_PRECONDITION naming
  // the problem.
  static absl::StatusOr<std::unique_ptr<Authenticator>> create(const IdentityConfig& config,
                                                               ClockPtr clock);
  // For tests: issuers with key sources already built (same order as config.issuers, whose
  // jwks_file/discovery fields are then ignored).
  static absl::StatusOr<std::unique_ptr<Authenticator>> createWithSources(
      const IdentityConfig& config, std::vector<KeySourcePtr> sources, ClockPtr clock);

  // The identity a bearer token proves. A token equal to the bootstrap secret gives
  // bootstrapIdentity(); anything else must be a JWT that JwtVerifier accepts, mapped by the
  // issuer's kind (workloadIdentity / humanIdentity). Errors as JwtVerifier::verify and the
  // mappers: UNAUTHENTICATED for bad tokens, UNAVAILABLE when keys cannot be loaded.
  absl::StatusOr<v1::Identity> authenticate(std::string_view bearer) const;

 private:
  Authenticator(IdentityConfig config, std::unique_ptr<JwtVerifier> verifier,
                std::optional<BootstrapToken> bootstrap)
      : config_(std::move(config)), verifier_(std::move(verifier)), bootstrap_(bootstrap) {}

  IdentityConfig config_;
  std::unique_ptr<JwtVerifier> verifier_;
  std::optional<BootstrapToken> bootstrap_;
};

}  // namespace tollgate::controlplane::identity
