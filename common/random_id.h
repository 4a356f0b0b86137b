// Random identifiers (sessions, grants, approvals) from the OpenSSL CSPRNG.
#pragma once

#include <cstddef>
#include <string>

namespace tollgate {

// `bytes` random bytes as lower-case hex, with no run of 12 or more decimal digits: the ids go
// into the audit trail, which PCI DSS 3.5.1 has scanned for card numbers (12 to 19 digits), and
// a digit-only id passes the Luhn check one time in ten. Aborts when the CSPRNG cannot be
// seeded (nothing safe is left to do).
std::string randomHexId(size_t bytes);

// The longest run of decimal digits in `s`.
size_t longestDigitRun(const std::string& s);

}  // namespace tollgate
