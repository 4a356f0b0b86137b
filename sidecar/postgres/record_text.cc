// Composite value text form (record_text.h), after record_in / record_out in PostgreSQL's
// rowtypes.c.
#include "sidecar/postgres/record_text.h"

namespace tollgate::sidecar::postgres {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

std::optional<std::vector<RecordTextField>> parseRecordText(std::string_view text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') return std::nullopt;
  std::vector<RecordTextField> fields;
  size_t pos = 1;
  const size_t close = text.size() - 1;
  while (true) {
    RecordTextField f;
    f.begin = pos;
    if (pos < close && text[pos] != ',') {
      std::string value;
      bool quoted = false;
      while (pos < close) {
        const char c = text[pos];
        if (!quoted && c == ',') break;
        if (c == '\\') {
          if (pos + 1 >= text.size() || (!quoted && pos + 1 >= close)) return std::nullopt;
          value += text[pos + 1];
          pos += 2;
        } else if (c == '"') {
          if (!quoted) {
            quoted = true;
          } else if (pos + 1 < close && text[pos + 1] == '"') {
            value += '"';
            ++pos;
          } else {
            quoted = false;
          }
          ++pos;
        } else {
          value += c;
          ++pos;
        }
      }
      if (quoted) return std::nullopt;
      f.value = std::move(value);
    }
    f.end = pos;
    fields.push_back(std::move(f));
    if (pos >= close) break;
    ++pos;  // the comma
  }
  return fields;
}

void appendRecordField(std::string& out, std::string_view value) {
  bool quote = value.empty();
  for (char c : value) {
    if (c == '"' || c == '\\' || c == '(' || c == ')' || c == ',' || isSpace(c)) quote = true;
  }
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += c;
    out += c;
  }
  out += '"';
}

}  // namespace tollgate::sidecar::postgres
