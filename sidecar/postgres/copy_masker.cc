// COPY TO STDOUT row masking: PostgreSQL's text and CSV row formats read and written back.
#include "sidecar/postgres/copy_masker.h"

#include <utility>

#include "sidecar/postgres/composite_masking.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/text_masking.h"

namespace tollgate::sidecar::postgres {
namespace {

using Kind = policy::CopyOutFormat::Kind;

// COPY text format's backslash escapes: the letter after '\\' and the control byte it stands
// for, one table for reading and writing them.
constexpr std::pair<char, char> kTextEscapes[] = {{'b', '\b'}, {'f', '\f'}, {'n', '\n'},
                                                  {'r', '\r'}, {'t', '\t'}, {'v', '\v'}};

const char* escapedByte(char letter) {
  for (const auto& e : kTextEscapes) {
    if (e.first == letter) return &e.second;
  }
  return nullptr;
}

const char* escapeLetter(char byte) {
  for (const auto& e : kTextEscapes) {
    if (e.second == byte) return &e.first;
  }
  return nullptr;
}

// Which notations other than plain digits a value may hold a card number in: bytea hex
// ("\\x3431..."), an exponent ("4.111111111111111e+15", also inside array text), a decimal
// point ("4111111111111111.00").
struct NotationMarks {
  bool hex = false;
  bool exponent = false;
  bool decimal_point = false;
};

NotationMarks notationMarks(std::string_view v) {
  NotationMarks m;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\\' && i + 1 < v.size() && v[i + 1] == 'x') m.hex = true;
    const bool after_digit = i > 0 && v[i - 1] >= '0' && v[i - 1] <= '9';
    if ((c == 'e' || c == 'E') && after_digit) m.exponent = true;
    if (c == '.' && after_digit) m.decimal_point = true;
  }
  return m;
}

bool looksLikeJson(std::string_view v) {
  size_t i = 0;
  while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r')) ++i;
  return i < v.size() && (v[i] == '{' || v[i] == '[');
}

}  // namespace

CopyOutMasker::CopyOutMasker(const policy::Masker* masker, const policy::CopyOutFormat& format,
                             const policy::OutputLineage* lineage, const TypeCatalog* catalog)
    : masker_(masker),
      format_(format),
      lineage_(lineage),
      catalog_(catalog),
      header_pending_(format.header) {
  if (masker_->hasColumnRules()) json_fields_.emplace(*masker_, lineage_);
}

bool CopyOutMasker::maskData(std::string_view data, std::string* out) {
  out->clear();
  bool changed = !pending_.empty();
  size_t scan_from = 0;
  std::string joined;
  if (!pending_.empty()) {
    scan_from = pending_.size();
    joined = std::move(pending_);
    joined.append(data);
    pending_.clear();
    data = joined;
  }
  size_t row_start = 0;
  for (size_t end; (end = rowEnd(data, scan_from)) != std::string_view::npos;) {
    const std::string_view row = data.substr(row_start, end - row_start);
    if (header_pending_) {
      header_pending_ = false;  // column names, not data
      out->append(row);
    } else {
      ++rows_;
      changed |= maskRow(row.substr(0, row.size() - 1), out);
      out->push_back('\n');
    }
    row_start = scan_from = end;
  }
  if (row_start < data.size()) {
    pending_.assign(data.substr(row_start));
    changed = true;
  }
  return changed;
}

std::string CopyOutMasker::finish() {
  if (pending_.empty()) return {};
  // The server ended the COPY inside a row: its fields cannot be told apart reliably.
  std::string out;
  std::string row = std::exchange(pending_, std::string());
  row_scan_ = {};
  ++rows_;
  policy::ColumnPlan whole = masker_->planColumn({}, /*whole_row=*/true);
  std::string hit;
  if (auto m = masker_->maskValue(whole, row, &hit)) {
    ++values_masked_;
    if (rule_hit_.empty()) rule_hit_ = hit;
    row = *std::move(m);
  }
  encode(row, &out);
  return out;
}

bool CopyOutMasker::ByteState::structural(char c, const policy::CopyOutFormat& f) {
  if (f.kind == Kind::kCsv) {
    // PostgreSQL's own rule (CopyReadLineText): the quote toggles, an escape counts only
    // inside quotes and only when it differs from the quote.
    const bool has_escape = f.escape != f.quote;
    if (has_escape && in_quotes && c == f.escape) escaped = !escaped;
    if (c == f.quote && !escaped) in_quotes = !in_quotes;
    if (!has_escape || c != f.escape) escaped = false;
    return !in_quotes;
  }
  if (escaped) {
    escaped = false;
    return false;
  }
  escaped = c == '\\';
  return !escaped;
}

size_t CopyOutMasker::rowEnd(std::string_view data, size_t from) {
  for (size_t i = from; i < data.size(); ++i) {
    if (row_scan_.structural(data[i], format_) && data[i] == '\n') return i + 1;
  }
  return std::string_view::npos;
}

void CopyOutMasker::splitRow(std::string_view row) {
  fields_.clear();
  size_t begin = 0;
  ByteState scan;
  for (size_t i = 0; i < row.size(); ++i) {
    if (!scan.structural(row[i], format_) || row[i] != format_.delimiter) continue;
    fields_.push_back({begin, i});
    begin = i + 1;
  }
  fields_.push_back({begin, row.size()});
}

std::optional<std::string_view> CopyOutMasker::decode(std::string_view raw) {
  if (raw == format_.null_marker) return std::nullopt;  // unquoted: NULL in both formats
  const char special = format_.kind == Kind::kCsv ? format_.quote : '\\';
  if (raw.find(special) == std::string_view::npos) return raw;  // nothing to resolve
  std::string& v = decoded_;
  v.clear();
  if (format_.kind == Kind::kCsv) {
    const char quote = format_.quote;
    const char escape = format_.escape;
    bool in_quotes = false;
    for (size_t i = 0; i < raw.size(); ++i) {
      const char c = raw[i];
      if (in_quotes && c == escape && i + 1 < raw.size() &&
          (raw[i + 1] == quote || raw[i + 1] == escape) &&
          (escape != quote || raw[i + 1] == quote)) {
        v.push_back(raw[++i]);
      } else if (c == quote) {
        in_quotes = !in_quotes;
      } else {
        v.push_back(c);
      }
    }
    return v;
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      v.push_back(raw[i]);
      continue;
    }
    const char c = raw[++i];
    if (const char* byte = escapedByte(c)) {
      v.push_back(*byte);
      continue;
    }
    switch (c) {
      case 'x':
        if (i + 1 < raw.size() && hexValue(raw[i + 1]) >= 0) {
          int b = hexValue(raw[++i]);
          if (i + 1 < raw.size() && hexValue(raw[i + 1]) >= 0) b = b * 16 + hexValue(raw[++i]);
          v.push_back(static_cast<char>(b));
        } else {
          v.push_back('x');
        }
        break;
      default:
        if (c >= '0' && c <= '7') {
          int b = c - '0';
          for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7';
               ++k) {
            b = b * 8 + (raw[++i] - '0');
          }
          v.push_back(static_cast<char>(b & 0xff));
        } else {
          v.push_back(c);
        }
    }
  }
  return v;
}

void CopyOutMasker::encode(std::string_view value, std::string* out) const {
  if (format_.kind == Kind::kCsv) {
    out->push_back(format_.quote);
    for (char c : value) {
      if (c == format_.quote || c == format_.escape) out->push_back(format_.escape);
      out->push_back(c);
    }
    out->push_back(format_.quote);
    return;
  }
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (const char* letter = escapeLetter(c)) {
      out->push_back('\\');
      out->push_back(*letter);
    } else {
      if (c == format_.delimiter) out->push_back('\\');
      out->push_back(c);
    }
  }
}

void CopyOutMasker::plan(size_t count) {
  if (plans_.size() == count) return;  // a row has at least one field: count > 0
  plans_.clear();
  for (size_t i = 0; i < count; ++i) {
    bool whole_row = lineage_ == nullptr || !lineage_->known;
    std::vector<std::string> names;
    if (!whole_row) names = lineage_->namesFor(i, count, "", &whole_row);
    policy::ColumnPlan p = masker_->planColumn(names, whole_row);
    if (p.column_rule == nullptr && catalog_ != nullptr) {
      p.column_rule = ruleCarriedBy(*catalog_, names);
    }
    plans_.push_back(p);
  }
}

std::optional<std::string> CopyOutMasker::maskValue(size_t index, std::string_view value) {
  const policy::ColumnPlan& p = plans_[index];
  std::string hit;
  std::optional<std::string> masked;
  if (p.column_rule != nullptr) {
    masked = masker_->maskValue(p, value, &hit);
  } else if (json_fields_ && looksLikeJson(value)) {
    // Field names inside JSON meet the column rules; scalars meet the detectors.
    std::string out;
    switch (policy::maskJsonFields(value, *json_fields_, &out)) {
      case policy::JsonRewrite::kRewritten:
        masked = std::move(out);
        hit = json_fields_->takeRuleHit();
        break;
      case policy::JsonRewrite::kUnchanged:
        return std::nullopt;
      case policy::JsonRewrite::kNotJson:
        break;
    }
  }
  if (!masked && p.column_rule == nullptr && p.scan) {
    // The type is unknown: every notation a card number may be written in, each only where
    // its marks are. maskOtherText() ends with the plain scan of text and digits.
    const NotationMarks marks = notationMarks(value);
    if (marks.hex || marks.exponent) {
      masked = maskOtherText(*masker_, p, value, &hit);
    } else {
      masked = masker_->maskValue(p, value, &hit);
    }
    if (!masked && marks.decimal_point) {
      masked = maskNumberText(*masker_, policy::NumberForm::kDecimal, value, false, &hit);
    }
    if (!masked && looksLikeMoney(value)) {
      masked = maskNumberText(*masker_, policy::NumberForm::kMoney, value, false, &hit);
    }
  }
  if (masked) {
    ++values_masked_;
    if (rule_hit_.empty()) rule_hit_ = hit;
  }
  return masked;
}

bool CopyOutMasker::maskRow(std::string_view row, std::string* out) {
  splitRow(row);
  plan(fields_.size());
  bool changed = false;
  size_t copied = 0;  // bytes of `row` already in *out
  for (size_t i = 0; i < fields_.size(); ++i) {
    const std::string_view raw = row.substr(fields_[i].begin, fields_[i].end - fields_[i].begin);
    auto value = decode(raw);
    if (!value) continue;  // NULL
    auto masked = maskValue(i, *value);
    if (!masked) continue;
    out->append(row.substr(copied, fields_[i].begin - copied));
    encode(*masked, out);
    copied = fields_[i].end;
    changed = true;
  }
  out->append(row.substr(copied));
  return changed;
}

}  // namespace tollgate::sidecar::postgres
