// Compact JWS parsing: structure and encoding checks only, no cryptography.
#include "controlplane/identity/jwt.h"

#include <vector>

#include "absl/status/status.h"
#include "controlplane/identity/base64url.h"
#include "controlplane/identity/strict_json.h"

namespace tollgate::controlplane::identity {
namespace {

absl::Status bad(const std::string& what) { return absl::UnauthenticatedError("token: " + what); }

}  // namespace

const char* jwsAlgName(JwsAlg alg) { return alg == JwsAlg::kRs256 ? "RS256" : "ES256"; }

std::string sanitizeForMessage(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '?');
  }
  if (s.size() > kMax) out += "...";
  return out;
}

absl::StatusOr<ParsedJwt> parseJwt(std::string_view token) {
  if (token.empty()) return bad("empty");
  if (token.size() > kMaxTokenBytes) {
    return bad("longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  }
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < 6) {
    size_t dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() == 5) return bad("JWE (encrypted) tokens are not supported");
  if (parts.size() != 3) return bad("not a compact JWS (expected 3 dot-separated segments)");
  if (parts[0].empty()) return bad("empty header segment");
  if (parts[1].empty()) return bad("empty payload segment");

  std::optional<std::string> header_raw = base64UrlDecode(parts[0]);
  if (!header_raw) return bad("header segment is not base64url");
  absl::StatusOr<nlohmann::json> header = parseStrictJsonObject(*header_raw, "header");
  if (!header.ok()) return bad(std::string(header.status().message()));

  ParsedJwt jwt;
  auto alg_it = header->find("alg");
  if (alg_it == header->end() || !alg_it->is_string()) return bad("header has no \"alg\"");
  const std::string& alg = alg_it->get_ref<const std::string&>();
  if (alg == "RS256") {
    jwt.alg = JwsAlg::kRs256;
  } else if (alg == "ES256") {
    jwt.alg = JwsAlg::kEs256;
  } else {
    return bad("alg \"" + sanitizeForMessage(alg) + "\" is not accepted (only RS256, ES256)");
  }
  if (header->contains("crit")) return bad("header has \"crit\" extensions (none supported)");
  if (auto kid = header->find("kid"); kid != header->end()) {
    if (!kid->is_string()) return bad("header \"kid\" is not a string");
    jwt.kid = kid->get<std::string>();
    jwt.has_kid = true;
  }

  if (parts[2].empty()) return bad("empty signature segment");
  std::optional<std::string> payload_raw = base64UrlDecode(parts[1]);
  if (!payload_raw) return bad("payload segment is not base64url");
  absl::StatusOr<nlohmann::json> claims = parseStrictJsonObject(*payload_raw, "claims");
  if (!claims.ok()) return bad(std::string(claims.status().message()));
  std::optional<std::string> sig = base64UrlDecode(parts[2]);
  if (!sig) return bad("signature segment is not base64url");

  jwt.header = std::move(*header);
  jwt.claims = std::move(*claims);
  jwt.signature = std::move(*sig);
  jwt.signing_input = std::string(token.substr(0, parts[0].size() + 1 + parts[1].size()));
  return jwt;
}

}  // namespace tollgate::controlplane::identity
