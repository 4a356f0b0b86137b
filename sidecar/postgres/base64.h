// Standard base64 (RFC 4648, padded) for SCRAM attributes, over OpenSSL's EVP block codec.
#pragma once

#include <string>
#include <string_view>

namespace tollgate::sidecar::postgres {

std::string base64Encode(std::string_view bytes);

// Decodes padded base64 without whitespace into *out; false (and *out unspecified) if the
// text is not exactly that.
bool base64Decode(std::string_view text, std::string* out);

}  // namespace tollgate::sidecar::postgres
