// The audit record's canonical encoding and the SHA-256 hash chain (see docs/audit-format.md).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::controlplane::audit {

// A raw SHA-256 digest.
using Hash = std::array<uint8_t, 32>;

// The hash before record 1 (all zero bytes).
inline constexpr Hash kZeroHash{};

// Encoded records larger than this are refused (the producer must trim free text).
inline constexpr size_t kMaxRecordBytes = 1 << 20;

// Canonical bytes of `event` stored at `sequence`: the 16-byte header ("TGA", version 1,
// big-endian sequence, big-endian payload length) followed by the deterministic protobuf
// serialization of `event` with `sequence` set to `sequence` and `prev_hash`/`record_hash`
// cleared. Deterministic for one protobuf version and schema; the decoder below checks that
// re-encoding reproduces the stored bytes exactly. Fails if the result exceeds kMaxRecordBytes.
absl::StatusOr<std::string> encodeRecord(const v1::AuditEvent& event, uint64_t sequence);

// Inverse of encodeRecord. Fails (InvalidArgument / DataLoss) on a bad header, a length
// mismatch, an unparsable payload, a payload whose `sequence` differs from the header, non-empty
// hash fields, or bytes that are not the canonical encoding of what they decode to. The result
// has `sequence` set and the hash fields empty. Safe on arbitrary input.
absl::StatusOr<v1::AuditEvent> decodeRecord(std::string_view bytes);

// Sequence number in the header of an encoded record, without decoding the payload; fails on a
// short or foreign header.
absl::StatusOr<uint64_t> recordHeaderSequence(std::string_view bytes);

// record_hash = SHA-256(prev_hash || canonical_bytes).
Hash chainHash(const Hash& prev_hash, std::string_view canonical_bytes);

// Lower-case hex of a digest, and back (fails unless exactly 64 hex digits).
std::string hashHex(const Hash& h);
absl::StatusOr<Hash> hashFromHex(std::string_view hex);
// Digest from a 32-byte blob (e.g. a SQLite column); fails on any other length.
absl::StatusOr<Hash> hashFromBytes(std::string_view bytes);
inline std::string_view hashBytes(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// Big-endian helpers shared by the record and checkpoint encodings.
void appendU64(std::string& out, uint64_t v);
void appendU32(std::string& out, uint32_t v);
uint64_t readU64(std::string_view in);  // requires in.size() >= 8
uint32_t readU32(std::string_view in);  // requires in.size() >= 4

}  // namespace tollgate::controlplane::audit
