// Strict JSON parsing for untrusted identity documents: depth limit, no duplicate keys.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace tollgate::controlplane::identity {

// Deepest nesting of objects/arrays accepted in a token header, claims set or JWKS.
inline constexpr int kMaxJsonDepth = 16;

// Parses `text` as one JSON object. Fails with INVALID_ARGUMENT "<what>: ..." when the text
// is not valid JSON (RFC 8259, UTF-8), not an object, nests deeper than kMaxJsonDepth, or
// repeats a key inside one object (RFC 7515 section 4 / RFC 7519 section 4 allow rejecting
// duplicates, and accepting them lets two parsers disagree on a claim). Never throws. The
// message never quotes `text`.
absl::StatusOr<nlohmann::json> parseStrictJsonObject(std::string_view text, std::string_view what);

}  // namespace tollgate::controlplane::identity
