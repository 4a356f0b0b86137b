// Ed25519 checkpoint signing with OpenSSL EVP, and key loading / first-start generation.
#include "controlplane/audit/checkpoint.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"

namespace tollgate::controlplane::audit {
namespace {

constexpr std::string_view kDomain = "tollgate-audit-checkpoint-v1";

std::string opensslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = {0};
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return what + (code != 0 ? std::string(": ") + buf : std::string());
}

std::string pemOf(EVP_PKEY* key, bool private_part) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = private_part ? PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr)
                        : PEM_write_bio_PUBKEY(bio, key);
  std::string out;
  if (ok == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  return out;
}

}  // namespace

std::string_view checkpointKindName(CheckpointKind kind) {
  switch (kind) {
    case CheckpointKind::kPeriodic:
      return "periodic";
    case CheckpointKind::kManual:
      return "manual";
    case CheckpointKind::kRetention:
      return "retention";
  }
  return "unknown";
}

std::string checkpointMessage(const Checkpoint& cp) {
  std::string out(kDomain);
  out.push_back('\0');
  out.push_back(static_cast<char>(cp.kind));
  appendU64(out, cp.up_to_sequence);
  out += hashBytes(cp.record_hash);
  appendU64(out, static_cast<uint64_t>(cp.time_us));
  return out;
}

CheckpointKey::CheckpointKey(EVP_PKEY* key, bool has_private)
    : key_(key), has_private_(has_private) {
  unsigned char raw[32];
  size_t len = sizeof raw;
  Hash digest{};
  unsigned int dlen = 0;
  if (EVP_PKEY_get_raw_public_key(key_, raw, &len) == 1) {
    EVP_Digest(raw, len, digest.data(), &dlen, EVP_sha256(), nullptr);
  }
  key_id_ = hashHex(digest).substr(0, 16);
}

CheckpointKey::~CheckpointKey() { EVP_PKEY_free(key_); }

absl::StatusOr<std::unique_ptr<CheckpointKey>> CheckpointKey::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return absl::InternalError(opensslError("Ed25519 key generation failed"));
  return std::unique_ptr<CheckpointKey>(new CheckpointKey(key, true));
}

absl::StatusOr<std::unique_ptr<CheckpointKey>> CheckpointKey::fromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  bool has_private = key != nullptr;
  if (key == nullptr) {
    ERR_clear_error();
    BIO_free(bio);
    bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  }
  BIO_free(bio);
  if (key == nullptr) {
    return absl::InvalidArgumentError(opensslError("audit signing key is not a PEM key"));
  }
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("audit signing key is not an Ed25519 key");
  }
  return std::unique_ptr<CheckpointKey>(new CheckpointKey(key, has_private));
}

absl::StatusOr<std::unique_ptr<CheckpointKey>> CheckpointKey::loadOrCreate(
    const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    // Group read is allowed (a Secret mounted with fsGroup is 0440); group write and any
    // access by others are not.
    if ((st.st_mode & (S_IWGRP | S_IRWXO)) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return absl::PermissionDeniedError("audit signing key " + path + " has mode " + mode +
                                         ": it must not be writable by group or accessible by "
                                         "others; chmod 600 (or 640) it");
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) return absl::UnavailableError("cannot read audit signing key " + path);
    auto key = fromPem(ss.str());
    if (key.ok() && !(*key)->canSign()) {
      return absl::InvalidArgumentError("audit signing key " + path + " has no private part");
    }
    return key;
  }
  if (errno != ENOENT) {
    return absl::UnavailableError("cannot stat " + path + ": " + std::strerror(errno));
  }
  auto key = generate();
  if (!key.ok()) return key.status();
  std::string pem = pemOf((*key)->key_, true);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError("cannot create " + path + ": " + std::strerror(errno));
  bool written =
      ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    ::unlink(path.c_str());
    return absl::UnavailableError("cannot write audit signing key " + path);
  }
  return key;
}

absl::StatusOr<std::string> CheckpointKey::sign(std::string_view message) const {
  if (!has_private_) return absl::FailedPreconditionError("audit key is public-only");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError(opensslError("Ed25519 signing failed"));
  sig.resize(len);
  return sig;
}

bool CheckpointKey::verify(std::string_view message, std::string_view signature) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

std::string CheckpointKey::publicKeyPem() const { return pemOf(key_, false); }

}  // namespace tollgate::controlplane::audit
