// PostgreSQL session: the answer to the server's SCRAM server-first, with the keys derived on
// the thread pool when the cache does not hold them.
#include <openssl/crypto.h>

#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/postgres/session.h"

namespace tollgate::sidecar::postgres {

CallbackAction PostgresSession::onServerFirst(std::string_view server_first) {
  absl::Status st =
      scram_ ? scram_->readServerFirst(server_first) : absl::InternalError("no SCRAM exchange");
  if (!st.ok()) {
    scramFailed(st);
    return CallbackAction::kStop;
  }
  if (std::optional<ScramKeys> keys = scram_->cachedKeys()) {
    return sendClientFinal(*keys) ? CallbackAction::kContinue : CallbackAction::kStop;
  }
  deriveKeysOffLoop();
  return CallbackAction::kStop;
}

void PostgresSession::deriveKeysOffLoop() {
  // PBKDF2 with the server's count (up to 10,000,000: seconds of CPU) would stall every session
  // of this loop. The server has nothing to send before client-final; what it sends anyway
  // waits in its socket. The client is not decoded before login (decodesClient()).
  struct Derivation {
    ScramKeyInput input;
    absl::StatusOr<ScramKeys> keys = absl::CancelledError();
  };
  auto derivation = std::make_shared<Derivation>();
  derivation->input = scram_->keyInput();
  upstream_.readDisable(true);
  scram_work_ = PoolWork::start(
      loop_,
      [derivation](const std::atomic<bool>& cancelled) {
        derivation->keys = deriveScramKeys(derivation->input, &cancelled);
        // OpenSSL frees a thread's state (its error queue, made by the fetches above) when the
        // thread ends, and the pool's threads end only after the leak check at exit.
        OPENSSL_thread_stop();
      },
      // Never runs once the session is gone: destroying scram_work_ cancels it.
      [this, derivation] { onScramKeys(derivation->keys); });
}

void PostgresSession::onScramKeys(const absl::StatusOr<ScramKeys>& keys) {
  scram_work_.reset();
  upstream_.readDisable(false);
  if (state_ != State::kAuthenticating) return;  // ending
  if (!keys.ok()) {
    scramFailed(keys.status());
    return;
  }
  // Then what the server sent meanwhile, if anything, is decoded.
  if (sendClientFinal(*keys)) processUpstream();
}

bool PostgresSession::sendClientFinal(const ScramKeys& keys) {
  absl::StatusOr<std::string> final_msg = scram_->clientFinal(keys);
  if (!final_msg.ok()) {
    scramFailed(final_msg.status());
    return false;
  }
  to_upstream_ += buildSaslResponse(*final_msg);
  return true;
}

void PostgresSession::scramFailed(const absl::Status& why) {
  fatalToClient(kSqlStateInvalidAuthorization, "tollgate: SCRAM with resource " +
                                                   config_.resource->name +
                                                   " failed: " + std::string(why.message()));
}

}  // namespace tollgate::sidecar::postgres
