// UTF-8 well-formedness as RFC 3629 defines it: no overlong forms, no surrogates, nothing past
// U+10FFFF. Peers send arbitrary bytes (startup parameters, identifiers, server messages in
// another encoding); JSON and proto3 strings need well-formed text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tollgate::utf8 {

// Length of the well-formed sequence starting at s[i] (1 for ASCII), or 0 when the bytes there
// are not one (a stray continuation byte, a truncated, overlong or surrogate sequence).
size_t sequenceLength(std::string_view s, size_t i);

bool valid(std::string_view s);

// `s` with each byte that does not start a well-formed sequence replaced by U+FFFD.
std::string repair(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` that does not cut a sequence in two.
std::string_view prefix(std::string_view s, size_t max_bytes);

}  // namespace tollgate::utf8
