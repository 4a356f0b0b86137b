// SCRAM-SHA-256 proof computation and server-signature check with OpenSSL; md5 passwords.
#include "sidecar/postgres/scram.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <memory>
#include <optional>
#include <utility>

#include "sidecar/postgres/base64.h"

namespace tollgate::sidecar::postgres {

namespace {

constexpr int kKeyLength = 32;  // SHA-256
constexpr long kMaxIterations = 10'000'000;

std::string hmacSha256(std::string_view key, std::string_view data) {
  std::string out(kKeyLength, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(kKeyLength, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// RFC 5802 saslname: '=' and ',' are escaped.
std::string escapeUser(std::string_view user) {
  std::string out;
  for (char c : user) {
    if (c == '=') {
      out += "=3D";
    } else if (c == ',') {
      out += "=2C";
    } else {
      out += c;
    }
  }
  return out;
}

// Splits "a=x,b=y" attribute text; returns the value of the next attribute if its name is
// `name`, advancing `text` past it.
std::optional<std::string_view> takeAttribute(std::string_view& text, char name) {
  if (text.size() < 2 || text[0] != name || text[1] != '=') return std::nullopt;
  size_t comma = text.find(',');
  std::string_view value = text.substr(2, comma == std::string_view::npos ? text.npos : comma - 2);
  text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  return value;
}

bool printableNonce(std::string_view nonce) {
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return !nonce.empty();
}

absl::Status protocolError(std::string_view what) {
  return absl::PermissionDeniedError("SCRAM: " + std::string(what));
}

// How many PBKDF2 iterations run between two looks at the cancelled flag (well under 1 ms).
constexpr int kIterationsPerCheck = 1024;

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// SaltedPassword = Hi(password, salt, i) of RFC 5802: PBKDF2-HMAC-SHA-256 (RFC 8018) for the one
// 32-byte block SCRAM needs, U1 = HMAC(password, salt || INT(1)), Uj = HMAC(password, Uj-1),
// U1 ^ ... ^ Ui, as PostgreSQL computes it (scram_SaltedPassword). Written out rather than
// PKCS5_PBKDF2_HMAC so that a long count can stop part way; OpenSSL's loop is the same.
absl::Status saltedPassword(std::string_view password, std::string_view salt, int iterations,
                            const std::atomic<bool>* cancelled, std::string* out) {
  std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  std::unique_ptr<EVP_MAC_CTX, MacDeleter> ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  if (!ctx) return absl::InternalError("PBKDF2: no HMAC");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  // An empty password is an empty key, not a missing one.
  const auto* key = reinterpret_cast<const unsigned char*>(password.empty() ? "" : password.data());
  unsigned char u[kKeyLength];
  size_t len = 0;
  out->assign(kKeyLength, '\0');
  absl::Status status;
  const std::string block = std::string(salt) + std::string("\0\0\0\1", 4);  // salt || INT(1)
  if (EVP_MAC_init(ctx.get(), key, password.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(block.data()),
                     block.size()) != 1 ||
      EVP_MAC_final(ctx.get(), u, &len, sizeof(u)) != 1 || len != sizeof(u)) {
    status = absl::InternalError("PBKDF2 failed");
  }
  for (int i = 1; status.ok(); ++i) {
    for (int j = 0; j < kKeyLength; ++j) (*out)[j] = static_cast<char>((*out)[j] ^ u[j]);
    if (i == iterations) break;
    if (cancelled != nullptr && i % kIterationsPerCheck == 0 &&
        cancelled->load(std::memory_order_relaxed)) {
      status = absl::CancelledError("PBKDF2 cancelled");
    } else if (EVP_MAC_init(ctx.get(), nullptr, 0, nullptr) != 1 ||  // the same key again
               EVP_MAC_update(ctx.get(), u, sizeof(u)) != 1 ||
               EVP_MAC_final(ctx.get(), u, &len, sizeof(u)) != 1) {
      status = absl::InternalError("PBKDF2 failed");
    }
  }
  OPENSSL_cleanse(u, sizeof(u));
  if (!status.ok()) wipe(*out);
  return status;
}

}  // namespace

ScramKeys::~ScramKeys() {
  wipe(client_key);
  wipe(server_key);
}

ScramKeyInput::~ScramKeyInput() { wipe(password); }

absl::StatusOr<ScramKeys> deriveScramKeys(const ScramKeyInput& input,
                                          const std::atomic<bool>* cancelled) {
  return deriveScramKeys(input.password, input.salt, input.iterations, cancelled);
}

absl::StatusOr<ScramKeys> deriveScramKeys(std::string_view password, std::string_view salt,
                                          int iterations, const std::atomic<bool>* cancelled) {
  if (iterations < 1) return absl::InvalidArgumentError("PBKDF2 needs at least one iteration");
  std::string salted;
  if (absl::Status st = saltedPassword(password, salt, iterations, cancelled, &salted); !st.ok()) {
    return st;
  }
  ScramKeys keys;
  keys.client_key = hmacSha256(salted, "Client Key");
  keys.server_key = hmacSha256(salted, "Server Key");
  wipe(salted);
  return keys;
}

ScramKeyCache::~ScramKeyCache() {
  for (Entry& e : entries_) wipe(e.id);
}

void ScramKeyCache::expireLocked(Clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->used < kIdle) {
      ++it;
      continue;
    }
    wipe(it->id);
    it = entries_.erase(it);  // its keys are wiped by their destructor
  }
}

namespace {

// The cache's name for (password, salt, iterations); both digests are of fixed length.
std::string entryId(std::string_view password, std::string_view salt, int iterations) {
  std::string id = sha256(password);
  id += sha256(salt);
  id += std::to_string(iterations);
  return id;
}

}  // namespace

std::optional<ScramKeys> ScramKeyCache::find(std::string_view password, std::string_view salt,
                                             int iterations, Clock::time_point now) {
  std::string id = entryId(password, salt, iterations);
  std::optional<ScramKeys> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    expireLocked(now);
    for (Entry& e : entries_) {
      if (e.id == id) {
        e.used = now;
        found = e.keys;
        break;
      }
    }
  }
  wipe(id);
  return found;
}

void ScramKeyCache::insert(std::string_view password, std::string_view salt, int iterations,
                           const ScramKeys& keys, Clock::time_point now) {
  std::string id = entryId(password, salt, iterations);
  std::lock_guard<std::mutex> lock(mu_);
  expireLocked(now);
  for (Entry& e : entries_) {
    if (e.id == id) {  // two sessions derived the same keys, or a cache hit used again
      wipe(id);
      e.used = now;
      return;
    }
  }
  if (entries_.size() >= kMaxEntries) {
    wipe(entries_.front().id);
    entries_.pop_front();
  }
  entries_.push_back(Entry{std::move(id), keys, now});
}

absl::StatusOr<ScramKeys> ScramKeyCache::keys(std::string_view password, std::string_view salt,
                                              int iterations, Clock::time_point now) {
  if (std::optional<ScramKeys> found = find(password, salt, iterations, now)) return *found;
  // Derived without the lock: two sessions may both derive the same keys once.
  absl::StatusOr<ScramKeys> keys = deriveScramKeys(password, salt, iterations);
  if (keys.ok()) insert(password, salt, iterations, *keys, now);
  return keys;
}

size_t ScramKeyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

ScramSha256Client::ScramSha256Client(std::string user, std::string password,
                                     std::string client_nonce, ScramKeyCache* keys)
    : user_(std::move(user)),
      password_(std::move(password)),
      client_nonce_(std::move(client_nonce)),
      keys_(keys) {}

ScramSha256Client::~ScramSha256Client() {
  wipe(password_);
  wipe(server_signature_);
}

absl::StatusOr<std::string> ScramSha256Client::randomNonce() {
  unsigned char raw[18];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    return absl::InternalError("RAND_bytes failed to produce a SCRAM nonce");
  }
  return base64Encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

std::string ScramSha256Client::clientFirstBare() const {
  return "n=" + escapeUser(user_) + ",r=" + client_nonce_;
}

std::string ScramSha256Client::clientFirstMessage() const { return "n,," + clientFirstBare(); }

absl::Status ScramSha256Client::readServerFirst(std::string_view server_first) {
  if (state_ != State::kStart) return protocolError("unexpected server-first-message");
  state_ = State::kFailed;
  if (!printableNonce(client_nonce_)) return protocolError("invalid client nonce");
  std::string_view rest = server_first;
  std::optional<std::string_view> nonce = takeAttribute(rest, 'r');
  std::optional<std::string_view> salt_b64 = takeAttribute(rest, 's');
  std::optional<std::string_view> iter_text = takeAttribute(rest, 'i');
  if (!nonce || !salt_b64 || !iter_text) return protocolError("malformed server-first-message");
  if (!printableNonce(*nonce) || nonce->size() <= client_nonce_.size() ||
      nonce->substr(0, client_nonce_.size()) != client_nonce_) {
    return protocolError("server nonce does not extend the client nonce");
  }
  std::string salt;
  if (!base64Decode(*salt_b64, &salt) || salt.empty()) return protocolError("invalid salt");
  long iterations = 0;
  auto [end, ec] =
      std::from_chars(iter_text->data(), iter_text->data() + iter_text->size(), iterations);
  if (ec != std::errc() || end != iter_text->data() + iter_text->size() || iterations < 1 ||
      iterations > kMaxIterations) {
    return protocolError("invalid iteration count");
  }
  server_first_ = std::string(server_first);
  server_nonce_ = std::string(*nonce);
  salt_ = std::move(salt);
  iterations_ = static_cast<int>(iterations);
  state_ = State::kKeys;
  return absl::OkStatus();
}

std::optional<ScramKeys> ScramSha256Client::cachedKeys() const {
  if (state_ != State::kKeys || keys_ == nullptr) return std::nullopt;
  return keys_->find(password_, salt_, iterations_);
}

ScramKeyInput ScramSha256Client::keyInput() const {
  ScramKeyInput input;
  if (state_ != State::kKeys) return input;
  input.password = password_;
  input.salt = salt_;
  input.iterations = iterations_;
  return input;
}

absl::StatusOr<std::string> ScramSha256Client::clientFinal(const ScramKeys& keys) {
  if (state_ != State::kKeys) return protocolError("no server-first-message to answer");
  state_ = State::kFailed;
  if (keys.client_key.size() != kKeyLength || keys.server_key.size() != kKeyLength) {
    return absl::InvalidArgumentError("SCRAM: keys of the wrong length");
  }
  if (keys_ != nullptr) keys_->insert(password_, salt_, iterations_, keys);
  const std::string& client_key = keys.client_key;
  std::string stored_key = sha256(client_key);
  std::string final_without_proof = "c=" + base64Encode("n,,") + ",r=" + server_nonce_;
  std::string auth_message = clientFirstBare() + "," + server_first_ + "," + final_without_proof;
  std::string signature = hmacSha256(stored_key, auth_message);
  std::string proof(kKeyLength, '\0');
  for (int i = 0; i < kKeyLength; ++i) proof[i] = static_cast<char>(client_key[i] ^ signature[i]);
  server_signature_ = hmacSha256(keys.server_key, auth_message);

  std::string result = final_without_proof + ",p=" + base64Encode(proof);
  for (std::string* s : {&stored_key, &signature, &proof}) wipe(*s);
  state_ = State::kFinalSent;
  return result;
}

absl::StatusOr<std::string> ScramSha256Client::handleServerFirst(std::string_view server_first) {
  if (absl::Status st = readServerFirst(server_first); !st.ok()) return st;
  std::optional<ScramKeys> keys = cachedKeys();
  if (!keys) {
    absl::StatusOr<ScramKeys> derived = deriveScramKeys(keyInput());
    if (!derived.ok()) {
      state_ = State::kFailed;
      return derived.status();
    }
    keys = *std::move(derived);
  }
  return clientFinal(*keys);
}

absl::Status ScramSha256Client::verifyServerFinal(std::string_view server_final) {
  if (state_ != State::kFinalSent) return protocolError("unexpected server-final-message");
  state_ = State::kFailed;
  std::string_view rest = server_final;
  if (std::optional<std::string_view> err = takeAttribute(rest, 'e')) {
    return protocolError("server reported error: " + std::string(*err));
  }
  std::optional<std::string_view> verifier = takeAttribute(rest, 'v');
  if (!verifier) return protocolError("malformed server-final-message");
  std::string got;
  if (!base64Decode(*verifier, &got) || got.size() != server_signature_.size() ||
      CRYPTO_memcmp(got.data(), server_signature_.data(), got.size()) != 0) {
    return protocolError("invalid server signature");
  }
  state_ = State::kDone;
  return absl::OkStatus();
}

std::string md5PasswordResponse(std::string_view user, std::string_view password,
                                std::string_view salt) {
  auto md5hex = [](std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
      hex += kHex[digest[i] >> 4];
      hex += kHex[digest[i] & 0xf];
    }
    return hex;
  };
  std::string inner_input = std::string(password) + std::string(user);
  std::string inner = md5hex(inner_input);
  wipe(inner_input);
  std::string result = "md5" + md5hex(inner + std::string(salt));
  wipe(inner);
  return result;
}

}  // namespace tollgate::sidecar::postgres
