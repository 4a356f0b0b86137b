// The text form of a composite (row) value, as record_out writes it and record_in reads it:
// "(f1,f2,...)". A field with a quote, backslash, parenthesis, comma or white space, or an
// empty one, is double-quoted, with '"' and '\' doubled inside; outside quotes a backslash
// takes the next byte literally. Nothing between two delimiters is NULL.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::sidecar::postgres {

struct RecordTextField {
  size_t begin = 0;  // the field's bytes in the record text, quotes included
  size_t end = 0;
  std::optional<std::string> value;  // decoded; nullopt for NULL
};

// The fields of `text`, or nullopt when it is not a well-formed record text (no parentheses,
// an unterminated quote, bytes after the closing parenthesis). "()" is one NULL field, as for
// record_in with one column; callers compare the count with the type's.
std::optional<std::vector<RecordTextField>> parseRecordText(std::string_view text);

// Appends `value` as a record field, quoted when record_out would quote it.
void appendRecordField(std::string& out, std::string_view value);

}  // namespace tollgate::sidecar::postgres
