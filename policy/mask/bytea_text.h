// Card numbers inside bytea's text forms (hex "\\x3431...", escape "\\0124111..."): the
// detectors scan the decoded bytes.
#pragma once

#include <absl/functional/function_ref.h>

#include <optional>
#include <string>
#include <string_view>

namespace tollgate::policy {

// Receives the bytes of one hex-format bytea; returns their replacement, or nullopt when they
// stay as they are. Must not throw.
using ByteaMasker = absl::FunctionRef<std::optional<std::string>(std::string_view bytes)>;

// Masks the bytes of every hex-format bytea written in `text`: a bytea's own text output
// (bytea_output = hex, the default: "\x34313131..." is the ASCII of "4111..."), or an array or
// record text holding such values, where the backslash is doubled. Each "\x" followed by a run
// of at least 24 hex digits (12 bytes, the shortest card number) is decoded, given to `mask`,
// and a changed result re-encoded as lower-case hex in its place (same length when `mask` keeps
// the length). Returns the rewritten text, or nullopt when nothing changed. Never throws.
std::optional<std::string> maskByteaHex(std::string_view text, const ByteaMasker& mask);

// Masks a bytea value in escape format (bytea_output = escape): printable ASCII as itself, a
// backslash doubled, any other byte as \ooo. The value is decoded whole, given to `mask`, and a
// changed result written back in escape format: "\0124111111111111111" is a newline and a card
// number, not a 19-digit run. Returns nullopt when nothing changed or the text is not valid
// escape format.
std::optional<std::string> maskByteaEscape(std::string_view text, const ByteaMasker& mask);
}  // namespace tollgate::policy
