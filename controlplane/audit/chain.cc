// Canonical record encoding and hash chain; format in docs/audit-format.md.
#include "controlplane/audit/chain.h"

#include <openssl/evp.h>

#include <cstdlib>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/status/status.h"

namespace tollgate::controlplane::audit {
namespace {

constexpr std::string_view kMagic = "TGA";
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = 16;

std::string deterministicBytes(const v1::AuditEvent& event) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    event.SerializeWithCachedSizes(&cos);
  }  // the stream trims `out` when destroyed
  return out;
}

}  // namespace

void appendU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void appendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t readU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

uint32_t readU32(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

absl::StatusOr<std::string> encodeRecord(const v1::AuditEvent& event, uint64_t sequence) {
  v1::AuditEvent copy = event;
  copy.set_sequence(sequence);
  copy.clear_prev_hash();
  copy.clear_record_hash();
  copy.ByteSizeLong();  // caches sizes for SerializeWithCachedSizes
  std::string payload = deterministicBytes(copy);
  if (payload.size() + kHeaderBytes > kMaxRecordBytes) {
    return absl::InvalidArgumentError("audit record of " + std::to_string(payload.size()) +
                                      " bytes exceeds the record size limit");
  }
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  appendU64(out, sequence);
  appendU32(out, static_cast<uint32_t>(payload.size()));
  out += payload;
  return out;
}

absl::StatusOr<uint64_t> recordHeaderSequence(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes) return absl::DataLossError("record shorter than its header");
  if (bytes.substr(0, 3) != kMagic) return absl::DataLossError("record has no TGA magic");
  if (static_cast<uint8_t>(bytes[3]) != kVersion) {
    return absl::DataLossError("unknown record version " +
                               std::to_string(static_cast<uint8_t>(bytes[3])));
  }
  return readU64(bytes.substr(4));
}

absl::StatusOr<v1::AuditEvent> decodeRecord(std::string_view bytes) {
  absl::StatusOr<uint64_t> sequence = recordHeaderSequence(bytes);
  if (!sequence.ok()) return sequence.status();
  uint32_t length = readU32(bytes.substr(12));
  if (length != bytes.size() - kHeaderBytes) {
    return absl::DataLossError("record length field does not match the stored size");
  }
  v1::AuditEvent event;
  std::string_view payload = bytes.substr(kHeaderBytes);
  if (!event.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("record payload is not a valid AuditEvent");
  }
  if (event.sequence() != *sequence) {
    return absl::DataLossError("record payload sequence differs from its header");
  }
  if (!event.prev_hash().empty() || !event.record_hash().empty()) {
    return absl::DataLossError("record payload carries hash fields");
  }
  absl::StatusOr<std::string> again = encodeRecord(event, *sequence);
  if (!again.ok() || *again != bytes) {
    return absl::DataLossError("record bytes are not in canonical form");
  }
  return event;
}

Hash chainHash(const Hash& prev_hash, std::string_view canonical_bytes) {
  Hash out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  // SHA-256 cannot fail on valid in-memory input; a failure here means allocation failed.
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, prev_hash.data(), prev_hash.size()) != 1 ||
      EVP_DigestUpdate(ctx, canonical_bytes.data(), canonical_bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) {
    std::abort();
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string hashHex(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : h) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

absl::StatusOr<Hash> hashFromHex(std::string_view hex) {
  if (hex.size() != 64) return absl::InvalidArgumentError("hash must be 64 hex digits");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Hash out;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("hash has a non-hex digit");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

absl::StatusOr<Hash> hashFromBytes(std::string_view bytes) {
  if (bytes.size() != 32) return absl::DataLossError("stored hash is not 32 bytes");
  Hash out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(bytes[i]);
  return out;
}

}  // namespace tollgate::controlplane::audit
