// Strict JSON parsing for untrusted documents (tokens, JWKS, admission reviews).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace tollgate::controlplane {

// Parses `text` as one JSON value. Fails with INVALID_ARGUMENT "not valid JSON" (RFC 8259,
// UTF-8), "JSON nests deeper than <max_depth> levels" (objects and arrays; the tree is not
// built past the limit), or "duplicate key in a JSON object" (accepting duplicates lets two
// parsers disagree on a value). Never throws; the message never quotes `text`.
absl::StatusOr<nlohmann::json> parseStrictJson(std::string_view text, int max_depth);

}  // namespace tollgate::controlplane
