// Rewriting every string field of a protobuf message, by reflection (rare paths only: it costs
// a descriptor walk per message).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "google/protobuf/message.h"

namespace tollgate::proto {

// Calls `fix` on each set string field (type string, not bytes) of `message`, recursively
// through sub-messages, repeated fields and map values; a value `fix` returns replaces the
// field's. Returns how many values were replaced.
using StringFix = std::function<std::optional<std::string>(std::string_view)>;
size_t rewriteStrings(google::protobuf::Message& message, const StringFix& fix);

// What storableStrings changed.
struct StorableCounts {
  size_t utf8 = 0;       // values with bytes that are not UTF-8 (each became U+FFFD)
  size_t truncated = 0;  // values longer than the limit
};

// Makes a message safe to serialize for a peer: proto3 parsers refuse strings that are not
// UTF-8 (so the whole message would be rejected), and values over `max_value_bytes` are cut to
// that length (on a character boundary) with a note of how long they were.
StorableCounts storableStrings(google::protobuf::Message& message, size_t max_value_bytes);

}  // namespace tollgate::proto
