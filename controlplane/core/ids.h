// Random identifiers for grants, approvals and audit events.
#pragma once

#include <string>

namespace tollgate::controlplane::core {

// A random RFC 4122 version-4 UUID in lower-case text form (from the OpenSSL CSPRNG).
std::string newUuid();
// `prefix` followed by 16 random lower-case hex digits (randomHexId: never 12 decimal digits in
// a row), e.g. "gr-1f0c...". Thread-safe.
std::string newId(const std::string& prefix);

}  // namespace tollgate::controlplane::core
