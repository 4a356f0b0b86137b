// Signed audit checkpoints: the Ed25519 key and the exact bytes a checkpoint signature covers.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "controlplane/audit/chain.h"

namespace tollgate::controlplane::audit {

// Why a checkpoint was written. The numeric value is part of the signed message.
enum class CheckpointKind : uint8_t {
  kPeriodic = 1,   // every N appended records
  kManual = 2,     // on demand (AuditStore::checkpoint)
  kRetention = 3,  // records 1..up_to_sequence were deleted by retention
};
std::string_view checkpointKindName(CheckpointKind kind);

// What a checkpoint asserts: the chain head `record_hash` after `up_to_sequence`, observed at
// `time_us` (unix microseconds). For kRetention, `up_to_sequence` is the last pruned record
// and `record_hash` its hash, the anchor the first remaining record must link to.
struct Checkpoint {
  CheckpointKind kind = CheckpointKind::kManual;
  uint64_t up_to_sequence = 0;
  Hash record_hash{};
  int64_t time_us = 0;
};

// The signed message (docs/audit-format.md): "tollgate-audit-checkpoint-v1" NUL, kind byte,
// big-endian up_to_sequence, 32-byte record_hash, big-endian time_us: 78 bytes.
std::string checkpointMessage(const Checkpoint& cp);

// An Ed25519 key pair (or public key only) for signing and verifying checkpoints. Immutable
// after construction; sign() and verify() are thread-safe.
class CheckpointKey {
 public:
  // Loads a PKCS#8 PEM Ed25519 private key from `path`, or generates one and writes it there
  // (mode 0600, created exclusively) when the file does not exist. Refuses an existing file
  // that others can access at all or that the group can write, and a key of another type.
  // Group read is allowed (as PostgreSQL allows a 0640 server key): Kubernetes mounts a Secret
  // 0440 when the pod sets fsGroup.
  static absl::StatusOr<std::unique_ptr<CheckpointKey>> loadOrCreate(const std::string& path);
  // A private key from PEM text (PKCS#8) or a public key from PEM text (SubjectPublicKeyInfo).
  static absl::StatusOr<std::unique_ptr<CheckpointKey>> fromPem(std::string_view pem);
  // A fresh random key, kept in memory only.
  static absl::StatusOr<std::unique_ptr<CheckpointKey>> generate();

  ~CheckpointKey();
  CheckpointKey(const CheckpointKey&) = delete;
  CheckpointKey& operator=(const CheckpointKey&) = delete;

  bool canSign() const { return has_private_; }
  // 64-byte Ed25519 signature of `message`; fails for a public-only key.
  absl::StatusOr<std::string> sign(std::string_view message) const;
  // True iff `signature` is a valid signature of `message` under this key.
  bool verify(std::string_view message, std::string_view signature) const;
  // Key id: the first 16 hex digits of SHA-256 over the raw 32-byte public key.
  const std::string& keyId() const { return key_id_; }
  // The public key as SubjectPublicKeyInfo PEM (for offline verification by auditors).
  std::string publicKeyPem() const;

 private:
  CheckpointKey(EVP_PKEY* key, bool has_private);
  EVP_PKEY* key_;
  bool has_private_;
  std::string key_id_;
};

}  // namespace tollgate::controlplane::audit
