// Literal-aware scanner over PostgreSQL 15 text (standard_conforming_strings = on).
#include "policy/sql/sql_lexer.h"

#include "common/utf8.h"

namespace tollgate::policy::sql {
namespace {

constexpr size_t kNone = std::string_view::npos;

bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool isIdentStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool isIdentCont(unsigned char c) { return isIdentStart(c) || isDigit(c) || c == '$'; }
bool isSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
bool isNewline(unsigned char c) { return c == '\n' || c == '\r'; }

// PostgreSQL lexes an integer that does not fit in int32 as a float constant (FCONST).
bool fitsInt32(std::string_view digits) {
  size_t i = 0;
  while (i + 1 < digits.size() && digits[i] == '0') ++i;
  digits.remove_prefix(i);
  if (digits.size() != 10) return digits.size() < 10;
  return digits <= "2147483647";
}
bool isOneOf(std::string_view ident, char lower) {
  return ident.size() == 1 && (ident[0] == lower || ident[0] == lower - 'a' + 'A');
}
bool equalsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

enum class Mode { kKey, kScrub };

// One pass over the text; see the header for what each mode produces.
class Scanner {
 public:
  Scanner(std::string_view s, Mode mode, std::string* out, std::vector<LiteralSpan>* spans)
      : s_(s), mode_(mode), out_(out), spans_(spans) {}

  bool run() {
    size_t i = 0;
    const size_t n = s_.size();
    while (i < n) {
      const auto c = static_cast<unsigned char>(s_[i]);
      if (isSpace(c)) {
        pending_space_ = true;
        pending_newline_ |= isNewline(c);
        ++i;
        continue;
      }
      if (c == '-' && at(i + 1) == '-') {
        while (i < n && !isNewline(static_cast<unsigned char>(s_[i]))) ++i;
        pending_space_ = true;
        continue;
      }
      if (c == '/' && at(i + 1) == '*') {
        const size_t end = skipBlockComment(i);
        if (end == kNone) return fail();
        pending_space_ = true;
        i = end;
        continue;
      }
      flushSpace();
      const bool after_uescape = prev_uescape_;
      prev_uescape_ = false;
      size_t next = kNone;
      if (c == '\'') {
        next = plainString(i, after_uescape);
      } else if (isIdentStart(c)) {
        next = identifierOrPrefixedString(i);
      } else if (c == '"') {
        next = verbatim(i, skipQuotedIdent(i));
      } else if (c == '$') {
        next = dollar(i);
      } else if (isDigit(c)) {
        next = number(i);
      } else {
        out_->push_back(static_cast<char>(c));
        next = i + 1;
      }
      if (next == kNone) return fail();
      i = next;
    }
    return true;
  }

 private:
  char at(size_t i) const { return i < s_.size() ? s_[i] : '\0'; }

  bool fail() {
    if (mode_ == Mode::kKey) return false;
    // Scrub mode: whatever is left is an unterminated construct; hide it entirely.
    out_->append("?");
    return true;
  }

  void flushSpace() {
    if (pending_space_ && !out_->empty()) {
      out_->push_back(mode_ == Mode::kKey && pending_newline_ ? '\n' : ' ');
    }
    pending_space_ = false;
    pending_newline_ = false;
  }

  // `i` at "/*"; returns the index after the matching "*/" (comments nest), or kNone.
  size_t skipBlockComment(size_t i) const {
    int depth = 0;
    const size_t n = s_.size();
    while (i < n) {
      if (s_[i] == '/' && at(i + 1) == '*') {
        ++depth;
        i += 2;
      } else if (s_[i] == '*' && at(i + 1) == '/') {
        i += 2;
        if (--depth == 0) return i;
      } else {
        ++i;
      }
    }
    return kNone;
  }

  // `i` at an opening quote of a string where only '' escapes a quote; returns the index after
  // the closing quote or kNone. Sets *backslash when the body holds one.
  size_t skipQuoted(size_t i, char quote, bool* backslash) const {
    const size_t n = s_.size();
    for (size_t j = i + 1; j < n; ++j) {
      if (s_[j] == '\\' && backslash != nullptr) *backslash = true;
      if (s_[j] != quote) continue;
      if (at(j + 1) == quote) {
        ++j;
        continue;
      }
      return j + 1;
    }
    return kNone;
  }
  size_t skipQuotedIdent(size_t i) const { return skipQuoted(i, '"', nullptr); }

  // `i` at the opening quote of an E'' string: backslash escapes the next byte.
  size_t skipEscapeString(size_t i) const {
    const size_t n = s_.size();
    for (size_t j = i + 1; j < n; ++j) {
      if (s_[j] == '\\') {
        ++j;
        continue;
      }
      if (s_[j] != '\'') continue;
      if (at(j + 1) == '\'') {
        ++j;
        continue;
      }
      return j + 1;
    }
    return kNone;
  }

  // PostgreSQL joins 'a' <newline> 'b' into one literal. Over-approximates the lexer's rule
  // (whitespace with a line break, "--" comments, and here also block comments, then a quote):
  // returns the index of the continuing quote or kNone.
  size_t continuation(size_t j) const {
    bool newline = false;
    const size_t n = s_.size();
    while (j < n) {
      const auto c = static_cast<unsigned char>(s_[j]);
      if (isSpace(c)) {
        newline |= isNewline(c);
        ++j;
      } else if (c == '-' && at(j + 1) == '-') {
        while (j < n && !isNewline(static_cast<unsigned char>(s_[j]))) ++j;
      } else if (c == '/' && at(j + 1) == '*') {
        j = skipBlockComment(j);
        if (j == kNone) return kNone;
      } else {
        break;
      }
    }
    return newline && j < n && s_[j] == '\'' ? j : kNone;
  }

  // Copies s_[i, end) unchanged (key mode) or as "?" when `literal` (scrub mode).
  size_t verbatim(size_t i, size_t end, bool literal = false) {
    if (end == kNone) return kNone;
    if (mode_ == Mode::kScrub && literal) {
      out_->push_back('?');
    } else {
      out_->append(s_.data() + i, end - i);
    }
    return end;
  }

  size_t plainString(size_t i, bool after_uescape) {
    bool backslash = false;
    size_t end = skipQuoted(i, '\'', &backslash);
    if (end == kNone) return kNone;
    size_t more = continuation(end);
    if (more != kNone) {
      if (mode_ == Mode::kKey) return kNone;
      while (more != kNone && end != kNone) {
        end = skipQuoted(more, '\'', nullptr);
        more = end == kNone ? kNone : continuation(end);
      }
      if (end == kNone) return kNone;
      return verbatim(i, end, true);
    }
    if (mode_ == Mode::kScrub) return verbatim(i, end, true);
    if (backslash || after_uescape) return verbatim(i, end);
    if (!utf8::valid(s_.substr(i, end - i))) return kNone;  // would not survive the JSON tree
    out_->push_back('\x01');
    spans_->push_back({i, end, LiteralSpan::Kind::kString});
    return end;
  }

  // A string with a prefix (E'', B'', X'', U&''): kept in keys, hidden when scrubbing. A line
  // break continuation makes the text unkeyable (and is hidden with it when scrubbing).
  size_t prefixedString(size_t i, size_t end) {
    if (end == kNone) return kNone;
    const size_t more = continuation(end);
    if (more != kNone) {
      if (mode_ == Mode::kKey) return kNone;
      size_t j = more;
      while (j != kNone) {
        end = skipEscapeString(j);  // the widest reading hides the most
        j = end == kNone ? kNone : continuation(end);
      }
      if (end == kNone) return kNone;
    }
    return verbatim(i, end, true);
  }

  size_t identifierOrPrefixedString(size_t i) {
    const size_t n = s_.size();
    size_t j = i + 1;
    while (j < n && isIdentCont(static_cast<unsigned char>(s_[j]))) ++j;
    const std::string_view ident = s_.substr(i, j - i);
    if (at(j) == '\'') {
      if (isOneOf(ident, 'e')) return prefixedString(i, skipEscapeString(j));
      if (isOneOf(ident, 'b') || isOneOf(ident, 'x')) {
        return prefixedString(i, skipQuoted(j, '\'', nullptr));
      }
      // N'' and typed literals (date'2020-01-01'): the string is a plain one.
    }
    if (isOneOf(ident, 'u') && at(j) == '&' && (at(j + 1) == '\'' || at(j + 1) == '"')) {
      if (at(j + 1) == '"') return verbatim(i, skipQuotedIdent(j + 1));
      return prefixedString(i, skipQuoted(j + 1, '\'', nullptr));
    }
    out_->append(ident.data(), ident.size());
    prev_uescape_ = equalsIgnoreCase(ident, "uescape");
    return j;
  }

  size_t dollar(size_t i) {
    const size_t n = s_.size();
    size_t j = i + 1;
    if (j < n && isDigit(static_cast<unsigned char>(s_[j]))) {  // parameter $n
      while (j < n && isDigit(static_cast<unsigned char>(s_[j]))) ++j;
      return verbatim(i, j);
    }
    if (j < n && isIdentStart(static_cast<unsigned char>(s_[j]))) {
      while (j < n && (isIdentStart(static_cast<unsigned char>(s_[j])) ||
                       isDigit(static_cast<unsigned char>(s_[j])))) {
        ++j;
      }
    }
    if (j >= n || s_[j] != '$') {  // a lone '$': not a quote
      out_->push_back('$');
      return i + 1;
    }
    const std::string_view delim = s_.substr(i, j - i + 1);
    const size_t close = s_.find(delim, j + 1);
    if (close == kNone) return kNone;
    return verbatim(i, close + delim.size(), true);
  }

  size_t number(size_t i) {
    const size_t n = s_.size();
    size_t j = i;
    while (j < n && isDigit(static_cast<unsigned char>(s_[j]))) ++j;
    bool decimal = false;
    if (at(j) == '.' && isDigit(static_cast<unsigned char>(at(j + 1)))) {
      decimal = true;
      ++j;
      while (j < n && isDigit(static_cast<unsigned char>(s_[j]))) ++j;
    }
    const auto follow = static_cast<unsigned char>(at(j));
    const bool clean = j >= n || !(isIdentCont(follow) || follow == '.');
    if (!clean) {
      // Exponents, trailing junk, "1..2": keep the whole run as it is (or hide it).
      while (j < n && (isIdentCont(static_cast<unsigned char>(s_[j])) || s_[j] == '.')) ++j;
      return verbatim(i, j, true);
    }
    if (mode_ == Mode::kScrub) return verbatim(i, j, true);
    // Integer and float constants are different tokens to the grammar: different markers.
    const bool integer = !decimal && fitsInt32(s_.substr(i, j - i));
    out_->push_back(integer ? '\x02' : '\x04');
    spans_->push_back({i, j, integer ? LiteralSpan::Kind::kInteger : LiteralSpan::Kind::kDecimal});
    return j;
  }

  std::string_view s_;
  Mode mode_;
  std::string* out_;
  std::vector<LiteralSpan>* spans_;
  bool pending_space_ = false;
  bool pending_newline_ = false;
  bool prev_uescape_ = false;
};

}  // namespace

bool shapeKey(std::string_view sql, std::string* key, std::vector<LiteralSpan>* spans) {
  key->clear();
  spans->clear();
  // Checked up front: comments are dropped from keys, and a NUL inside one ends the C string
  // libpg_query sees.
  for (char c : sql) {
    if (static_cast<unsigned char>(c) < 0x05) return false;
  }
  Scanner scanner(sql, Mode::kKey, key, spans);
  return scanner.run();
}

std::string scrubLiterals(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::vector<LiteralSpan> unused;
  Scanner scanner(text, Mode::kScrub, &out, &unused);
  scanner.run();
  return out;
}

std::string substituteLiterals(std::string_view sql, const std::vector<LiteralSpan>& spans,
                               int variant) {
  std::string out;
  out.reserve(sql.size() + 8);
  size_t pos = 0;
  for (const LiteralSpan& span : spans) {
    out.append(sql.data() + pos, span.begin - pos);
    switch (span.kind) {
      case LiteralSpan::Kind::kString:
        out.append(variant == 0 ? "''" : "'a'");
        break;
      case LiteralSpan::Kind::kInteger:
        out.append(variant == 0 ? "0" : "1");
        break;
      case LiteralSpan::Kind::kDecimal:
        out.append(variant == 0 ? "0.0" : "1.5");
        break;
    }
    pos = span.end;
  }
  out.append(sql.data() + pos, sql.size() - pos);
  return out;
}

}  // namespace tollgate::policy::sql
