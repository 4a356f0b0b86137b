// Reading integral numbers out of decimal, exponent and money notation, and writing them back.
//
// Both forms reduce to one layout: the mantissa digits are the digit characters before the
// exponent (or of the whole text), and `point` says how many of them stand before the decimal
// point once the exponent is applied (it may exceed their count: implied trailing zeros).
#include "policy/detect/number_forms.h"

#include <cstdint>

#include "policy/detect/text_splicer.h"

namespace tollgate::policy {
namespace {

constexpr size_t kNone = std::string_view::npos;
constexpr int64_t kMaxExponent = 1000000;  // beyond it the integer is too long anyway

bool isDigit(char c) { return c >= '0' && c <= '9'; }

struct Layout {
  size_t mantissa_end = 0;     // digit characters of text[0, mantissa_end) are the mantissa
  int64_t point = 0;           // mantissa digits before the decimal point, exponent applied
  size_t exponent_at = kNone;  // index of 'e'/'E', or kNone
  bool negative = false;
};

bool decimalLayout(std::string_view t, Layout* out) {
  size_t p = 0;
  const size_t n = t.size();
  if (p < n && (t[p] == '+' || t[p] == '-')) {
    out->negative = t[p] == '-';
    ++p;
  }
  size_t int_digits = 0;
  for (; p < n && isDigit(t[p]); ++p) ++int_digits;
  size_t frac_digits = 0;
  if (p < n && t[p] == '.') {
    ++p;
    for (; p < n && isDigit(t[p]); ++p) ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  out->mantissa_end = p;
  int64_t exponent = 0;
  if (p < n && (t[p] == 'e' || t[p] == 'E')) {
    out->exponent_at = p++;
    bool exp_negative = false;
    if (p < n && (t[p] == '+' || t[p] == '-')) exp_negative = t[p++] == '-';
    if (p >= n || !isDigit(t[p])) return false;
    while (p < n && isDigit(t[p])) {
      if (exponent < kMaxExponent) exponent = exponent * 10 + (t[p] - '0');
      ++p;
    }
    if (exp_negative) exponent = -exponent;
  }
  if (p != n) return false;
  out->point = static_cast<int64_t>(int_digits) + exponent;
  return true;
}

bool moneyLayout(std::string_view t, Layout* out) {
  size_t digits = 0;
  size_t last_sep = kNone;
  size_t digits_before_sep = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (isDigit(c)) {
      ++digits;
    } else if (c == '.' || c == ',') {
      last_sep = i;
      digits_before_sep = digits;
    } else if (c == '-' || c == '(') {
      out->negative = true;
    }
  }
  if (digits == 0) return false;
  out->mantissa_end = t.size();
  out->point = static_cast<int64_t>(digits);
  const size_t after = digits - digits_before_sep;
  if (last_sep != kNone && last_sep + 1 < t.size() && isDigit(t[last_sep + 1]) && after >= 1 &&
      after <= 2) {
    out->point = static_cast<int64_t>(digits_before_sep);
  }
  return true;
}

bool layoutOf(std::string_view text, NumberForm form, Layout* out) {
  return form == NumberForm::kMoney ? moneyLayout(text, out) : decimalLayout(text, out);
}

// Where the integer's significant digits are among the mantissa digits (by ordinal).
struct Span {
  bool zero = false;   // every mantissa digit is 0
  int64_t first = 0;   // ordinal of the first nonzero mantissa digit
  int64_t length = 0;  // digits of the integer (implied trailing zeros included)
};

// False when the fraction is nonzero or the integer is too long.
bool integralSpan(std::string_view text, const Layout& l, Span* out) {
  int64_t ordinal = 0;
  int64_t first = -1;
  int64_t last = -1;
  for (size_t i = 0; i < l.mantissa_end; ++i) {
    if (!isDigit(text[i])) continue;
    if (text[i] != '0') {
      if (first < 0) first = ordinal;
      last = ordinal;
    }
    ++ordinal;
  }
  if (first < 0) {
    out->zero = true;
    out->length = 1;
    return true;
  }
  if (last >= l.point) return false;  // a nonzero digit after the decimal point
  out->first = first;
  out->length = l.point - first;
  return out->length <= static_cast<int64_t>(kMaxIntegralDigits);
}

}  // namespace

std::optional<IntegralNumber> readIntegral(std::string_view text, NumberForm form) {
  Layout l;
  Span s;
  if (!layoutOf(text, form, &l) || !integralSpan(text, l, &s)) return std::nullopt;
  IntegralNumber out;
  out.negative = l.negative;
  if (s.zero) {
    out.digits = "0";
    return out;
  }
  out.digits.reserve(static_cast<size_t>(s.length));
  int64_t ordinal = 0;
  for (size_t i = 0; i < l.mantissa_end && ordinal < l.point; ++i) {
    if (!isDigit(text[i])) continue;
    if (ordinal >= s.first) out.digits.push_back(text[i]);
    ++ordinal;
  }
  out.digits.resize(static_cast<size_t>(s.length), '0');  // implied trailing zeros
  return out;
}

std::optional<std::string> writeIntegralLike(std::string_view original, NumberForm form,
                                             std::string_view digits) {
  Layout l;
  Span s;
  if (!layoutOf(original, form, &l) || !integralSpan(original, l, &s)) return std::nullopt;
  if (digits.size() != static_cast<size_t>(s.length) || digits.empty()) return std::nullopt;
  for (char c : digits) {
    if (!isDigit(c)) return std::nullopt;
  }
  if (s.zero) {
    if (digits != "0") return std::nullopt;
    return std::string(original);
  }
  if (l.exponent_at == kNone) {
    // No exponent: the integer's digits are all written out; replace them where they stand.
    std::string out(original);
    int64_t ordinal = 0;
    size_t k = 0;
    for (size_t i = 0; i < l.mantissa_end && k < digits.size(); ++i) {
      if (!isDigit(out[i])) continue;
      if (ordinal >= s.first) out[i] = digits[k++];
      ++ordinal;
    }
    return out;
  }
  // Leading zeros (a mask that hid the first digits) shorten the normalised mantissa.
  while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
  std::string out;
  if (original[0] == '+' || original[0] == '-') out.push_back(original[0]);
  out.push_back(digits[0]);
  std::string_view rest = digits.substr(1);
  while (!rest.empty() && rest.back() == '0') rest.remove_suffix(1);
  if (!rest.empty()) {
    out.push_back('.');
    out.append(rest);
  }
  out.push_back(original[l.exponent_at]);
  if (l.exponent_at + 1 < original.size() && original[l.exponent_at + 1] == '+') {
    out.push_back('+');
  }
  out.append(std::to_string(digits.size() - 1));
  return out;
}

std::string zeroHiddenDigits(std::string_view original, std::string_view masked) {
  std::string out(original);
  for (size_t k = 0; k < out.size(); ++k) {
    if (k >= masked.size()) {
      if (isDigit(out[k])) out[k] = '0';
      continue;
    }
    const char ch = masked[k];
    if (ch != original[k]) out[k] = isDigit(ch) ? ch : '0';
  }
  return out;
}

namespace {

// A character that joins a number token to its neighbour (so the token is part of a longer one).
bool joinsToken(char c) {
  return isDigit(c) || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

}  // namespace

std::optional<std::string> rewriteZeroFractionIntegers(std::string_view text,
                                                       const IntegralRewriter& rewrite) {
  TextSplicer out(text);
  for (size_t dot = text.find('.'); dot != kNone; dot = text.find('.', dot + 1)) {
    size_t begin = dot;
    while (begin > 0 && isDigit(text[begin - 1])) --begin;
    size_t end = dot + 1;
    while (end < text.size() && text[end] == '0') ++end;
    if (begin == dot || end == dot + 1 || begin < out.copied()) continue;
    if ((begin > 0 && joinsToken(text[begin - 1])) ||
        (end < text.size() && joinsToken(text[end]))) {
      continue;
    }
    auto digits = rewrite(text.substr(begin, dot - begin));
    if (!digits || digits->size() != dot - begin) continue;
    out.replace(begin, dot, *digits);
  }
  return out.finish();
}

std::optional<std::string> rewriteExponentIntegers(std::string_view text,
                                                   const IntegralRewriter& rewrite) {
  TextSplicer out(text);
  for (size_t e = text.find_first_of("eE"); e != kNone; e = text.find_first_of("eE", e + 1)) {
    // The mantissa before 'e' and the exponent after it.
    size_t begin = e;
    while (begin > 0 && (isDigit(text[begin - 1]) || text[begin - 1] == '.')) --begin;
    if (begin > 0 && (text[begin - 1] == '-' || text[begin - 1] == '+')) --begin;
    size_t end = e + 1;
    if (end < text.size() && (text[end] == '-' || text[end] == '+')) ++end;
    while (end < text.size() && isDigit(text[end])) ++end;
    if (begin == e || begin < out.copied()) continue;
    if ((begin > 0 && joinsToken(text[begin - 1])) ||
        (end < text.size() && joinsToken(text[end]))) {
      continue;
    }
    const std::string_view token = text.substr(begin, end - begin);
    auto number = readIntegral(token, NumberForm::kDecimal);
    if (!number) continue;
    auto digits = rewrite(number->digits);
    if (!digits) continue;
    auto written = writeIntegralLike(token, NumberForm::kDecimal, *digits);
    if (!written) continue;
    out.replace(begin, end, *written);
  }
  return out.finish();
}

}  // namespace tollgate::policy
