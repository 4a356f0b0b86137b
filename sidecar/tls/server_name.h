// Server names for TLS: tells IP literals from DNS names and puts both in canonical form.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tollgate::sidecar::tls {

struct ServerName {
  enum class Kind { kDns, kIp };
  Kind kind = Kind::kDns;
  // Canonical text: DNS names lower-case without a trailing dot; IPv4 dotted quad; IPv6 in
  // RFC 5952 form without brackets.
  std::string text;
  bool isIp() const { return kind == Kind::kIp; }
};

// Parses a host name or IP literal ("Payments-DB.test.", "127.0.0.1", "[::1]", "::1").
// DNS names must be letters/digits/hyphens/underscores in dot-separated labels of 1..63
// characters, 253 characters at most; wildcards and anything else are refused with
// InvalidArgument naming the problem. Never fails for a valid IPv4/IPv6 literal.
absl::StatusOr<ServerName> parseServerName(const std::string& name);

}  // namespace tollgate::sidecar::tls
