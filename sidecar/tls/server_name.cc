// Parsing and canonicalisation of TLS server names (DNS names and IP literals).
#include "sidecar/tls/server_name.h"

#include <arpa/inet.h>

#include <cctype>

namespace tollgate::sidecar::tls {

namespace {

bool parseIp(const std::string& text, std::string& canonical) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    canonical = inet_ntop(AF_INET, buf, out, sizeof(out));
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    canonical = inet_ntop(AF_INET6, buf, out, sizeof(out));
    return true;
  }
  return false;
}

bool validLabelChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

}  // namespace

absl::StatusOr<ServerName> parseServerName(const std::string& name) {
  ServerName out;
  std::string text = name;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    if (!parseIp(text, out.text) || text.find(':') == std::string::npos) {
      return absl::InvalidArgumentError("invalid IPv6 literal \"" + name + "\"");
    }
    out.kind = ServerName::Kind::kIp;
    return out;
  }
  if (parseIp(text, out.text)) {
    out.kind = ServerName::Kind::kIp;
    return out;
  }
  if (!text.empty() && text.back() == '.') text.pop_back();
  if (text.empty()) return absl::InvalidArgumentError("empty server name");
  if (text.size() > 253) {
    return absl::InvalidArgumentError("server name longer than 253 characters");
  }
  size_t label = 0;
  for (char& c : text) {
    if (c == '.') {
      if (label == 0) return absl::InvalidArgumentError("empty label in \"" + name + "\"");
      label = 0;
      continue;
    }
    if (!validLabelChar(c)) {
      return absl::InvalidArgumentError("invalid character in server name \"" + name + "\"");
    }
    if (++label > 63) {
      return absl::InvalidArgumentError("label longer than 63 characters in \"" + name + "\"");
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (label == 0) return absl::InvalidArgumentError("empty label in \"" + name + "\"");
  out.kind = ServerName::Kind::kDns;
  out.text = text;
  return out;
}

}  // namespace tollgate::sidecar::tls
