// SCRAM-SHA-256 client (RFC 5802 / RFC 7677) as PostgreSQL uses it, without channel binding.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate::sidecar::postgres {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";

// SCRAM's ClientKey and ServerKey (RFC 5802) for one password, salt and iteration count, raw
// bytes; wiped when destroyed.
struct ScramKeys {
  std::string client_key;
  std::string server_key;
  ScramKeys() = default;
  ScramKeys(const ScramKeys&) = default;
  ScramKeys& operator=(const ScramKeys&) = default;
  ~ScramKeys();
};

// What deriving one password's keys takes: the password (wiped when destroyed), the salt (raw
// bytes) and the iteration count server-first named.
struct ScramKeyInput {
  std::string password;
  std::string salt;
  int iterations = 0;
  ScramKeyInput() = default;
  ScramKeyInput(const ScramKeyInput&) = default;
  ScramKeyInput& operator=(const ScramKeyInput&) = default;
  ~ScramKeyInput();
};

// Deriving the keys is PBKDF2 with the server's iteration count: PostgreSQL's default 4096
// costs a few ms of CPU, and a server may ask for up to 10,000,000 (seconds). The server keeps a
// role's salt and count until its password changes, so the sessions of one sidecar derive them
// once (PgBouncer keeps the same keys). Entries are named by SHA-256 digests of the password and
// of the salt, and the count: a rotated password or a new salt is a miss, and an entry's size
// does not depend on what the server sent. Thread-safe; at most kMaxEntries, the oldest dropped
// first, and none unused for kIdle (the keys of a password rotated away do not stay); dropped
// entries are wiped.
class ScramKeyCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxEntries = 32;
  static constexpr Clock::duration kIdle = std::chrono::minutes(10);

  ScramKeyCache() = default;
  ~ScramKeyCache();
  ScramKeyCache(const ScramKeyCache&) = delete;
  ScramKeyCache& operator=(const ScramKeyCache&) = delete;

  // The keys for (password, salt, iterations), a copy, when held (marked used); nullopt on a
  // miss. Never derives.
  std::optional<ScramKeys> find(std::string_view password, std::string_view salt, int iterations,
                                Clock::time_point now = Clock::now());
  // Keeps `keys`, which must be those of (password, salt, iterations); when already held, marks
  // them used.
  void insert(std::string_view password, std::string_view salt, int iterations,
              const ScramKeys& keys, Clock::time_point now = Clock::now());
  // find(), else derived on the calling thread and inserted.
  absl::StatusOr<ScramKeys> keys(std::string_view password, std::string_view salt, int iterations,
                                 Clock::time_point now = Clock::now());
  size_t size() const;

 private:
  struct Entry {
    std::string id;
    ScramKeys keys;
    Clock::time_point used;
  };
  // Drops the entries unused since `now - kIdle`; mu_ held.
  void expireLocked(Clock::time_point now);
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // oldest first
};

// The keys derived afresh (PBKDF2-HMAC-SHA-256), on the calling thread. When `cancelled` (may be
// null) turns true, stops within about a thousand iterations and returns a CANCELLED error.
absl::StatusOr<ScramKeys> deriveScramKeys(std::string_view password, std::string_view salt,
                                          int iterations,
                                          const std::atomic<bool>* cancelled = nullptr);
absl::StatusOr<ScramKeys> deriveScramKeys(const ScramKeyInput& input,
                                          const std::atomic<bool>* cancelled = nullptr);

// One authentication exchange; use a new object per connection.
//
//   client-first  = "n,," "n=" user ",r=" client-nonce          (SASLInitialResponse data)
//   server-first  = "r=" nonce ",s=" salt ",i=" iterations      (AuthenticationSASLContinue)
//   client-final  = "c=biws,r=" nonce ",p=" proof               (SASLResponse data)
//   server-final  = "v=" server-signature                       (AuthenticationSASLFinal)
//
// The password is used as given: PostgreSQL SASLprep-normalises passwords first, which
// changes nothing for ASCII passwords; non-ASCII passwords that SASLprep would alter are not
// supported. Secrets are wiped from memory when the object is destroyed.
class ScramSha256Client {
 public:
  // `user` is the name sent in client-first. PostgreSQL sends "" (the server uses the user
  // from the startup packet); RFC 7677's example uses "user". It is escaped as RFC 5802
  // says ('=' -> "=3D", ',' -> "=2C"). `client_nonce` must be printable ASCII without ','
  // (use randomNonce()). `keys` (nullable, outlives the client) saves deriving the keys again.
  ScramSha256Client(std::string user, std::string password, std::string client_nonce,
                    ScramKeyCache* keys = nullptr);
  ~ScramSha256Client();
  ScramSha256Client(const ScramSha256Client&) = delete;
  ScramSha256Client& operator=(const ScramSha256Client&) = delete;

  // 18 random bytes, base64-encoded (24 characters), from OpenSSL's RAND_bytes.
  static absl::StatusOr<std::string> randomNonce();

  std::string clientFirstMessage() const;

  // Answering server-first takes three steps, so that the keys, on a cache miss, can be derived
  // away from the caller's thread:
  //   1. readServerFirst(): checks server-first (nonce extends ours, salt is base64,
  //      1 <= iterations <= 10,000,000);
  //   2. the keys: cachedKeys(), else deriveScramKeys(keyInput()) on any thread;
  //   3. clientFinal(keys): client-final.
  // readServerFirst() and clientFinal() run once each, in that order (else an error);
  // cachedKeys() and keyInput() are for between them (nullopt, an empty input otherwise).
  absl::Status readServerFirst(std::string_view server_first);
  // The keys for server-first's salt and count from the cache given to the constructor; nullopt
  // on a miss or without a cache.
  std::optional<ScramKeys> cachedKeys() const;
  // A copy of what deriving the keys takes (the password among it), for another thread.
  ScramKeyInput keyInput() const;
  // client-final (SASLResponse data) with the proof made from `keys`, which must be the
  // password's for server-first's salt and count; they join the cache for later sessions.
  absl::StatusOr<std::string> clientFinal(const ScramKeys& keys);
  // The three steps on the calling thread: client-final, or why server-first is refused.
  absl::StatusOr<std::string> handleServerFirst(std::string_view server_first);

  // Checks server-final's signature (constant-time). A server "e=..." error, a wrong
  // signature, or a call before handleServerFirst() succeeded gives an error.
  absl::Status verifyServerFinal(std::string_view server_final);

 private:
  enum class State { kStart, kKeys, kFinalSent, kDone, kFailed };

  std::string clientFirstBare() const;

  State state_ = State::kStart;
  std::string user_;
  std::string password_;
  std::string client_nonce_;
  // From server-first (kKeys): the whole message, its nonce, the salt (raw) and the count.
  std::string server_first_;
  std::string server_nonce_;
  std::string salt_;
  int iterations_ = 0;
  std::string server_signature_;  // expected, raw bytes
  ScramKeyCache* keys_;
};

// PostgreSQL's md5 password response: "md5" + hex(md5(hex(md5(password + user)) + salt)).
// `salt` is the 4 bytes of AuthenticationMD5Password.
std::string md5PasswordResponse(std::string_view user, std::string_view password,
                                std::string_view salt);

}  // namespace tollgate::sidecar::postgres
