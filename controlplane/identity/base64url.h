// Base64url (RFC 4648 section 5) without padding, as JOSE uses it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tollgate::controlplane::identity {

// Decodes unpadded base64url. Returns nullopt on any character outside [A-Za-z0-9_-], on
// padding ('='), on an impossible length (len % 4 == 1) and on non-zero trailing bits, so
// every byte string has exactly one accepted encoding.
std::optional<std::string> base64UrlDecode(std::string_view in);

// Encodes without padding.
std::string base64UrlEncode(std::string_view in);

}  // namespace tollgate::controlplane::identity
