// Literal-aware single-pass scanner over PostgreSQL text: cache keys and literal scrubbing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::policy::sql {

// A literal the shape key replaced by a marker, as a byte range of the original text.
struct LiteralSpan {
  enum class Kind { kString, kInteger, kDecimal };  // kDecimal: any float constant (FCONST)
  size_t begin = 0;
  size_t end = 0;  // one past the last byte
  Kind kind = Kind::kString;
};

// Builds the shape key of `sql` for the analysis cache. Follows the PostgreSQL 15 lexer with
// standard_conforming_strings = on (the setting libpg_query parses with):
//   - comments (`--`, nested `/* */`) are dropped, whitespace runs become one " " (or one "\n"
//     when the run holds a line break, since a line break can continue a string literal);
//   - plain '...' strings without backslashes (well-formed UTF-8) become "\x01"; plain
//     integers that fit int32 become "\x02"; larger integers and decimals (digits, optionally
//     ".digits", not touching an identifier character) become "\x04" (the grammar sees those
//     as a different token);
//   - everything else (identifiers, quoted identifiers, E'', B'', X'', U&'' strings, strings
//     after UESCAPE, dollar-quoted bodies, parameters, operators) is kept byte for byte.
// `spans` receives the masked literals in order. Returns false when the text must not be keyed
// by shape (control bytes below 0x05, unterminated constructs, string continuation across a
// line break, a maskable string that is not UTF-8): the caller then analyses without the shape
// cache. Two texts with one key differ only in the values of masked literals.
bool shapeKey(std::string_view sql, std::string* key, std::vector<LiteralSpan>* spans);

// Returns `text` with comments removed, whitespace runs collapsed to one space, the ends
// trimmed, and every remaining literal of any kind (strings of every form, dollar-quoted
// bodies, numbers) replaced by "?". Parameters ($1) and identifiers are kept. Used on
// libpg_query's normalised text so that literals the normaliser leaves (COPY file names,
// option values, DO bodies in some forms, typmods) never reach a log.
std::string scrubLiterals(std::string_view text);

// Replaces each span of `sql` (from shapeKey) with a fixed literal of the same kind; `variant`
// 0 and 1 choose two different values. Used to check that a shape's fingerprint does not
// depend on the masked values.
std::string substituteLiterals(std::string_view sql, const std::vector<LiteralSpan>& spans,
                               int variant);

}  // namespace tollgate::policy::sql
