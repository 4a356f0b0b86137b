// Notation-aware detector scans of value texts.
#include "sidecar/postgres/text_masking.h"

#include "policy/detect/text_splicer.h"
#include "sidecar/postgres/pg_types.h"

namespace tollgate::sidecar::postgres {

std::optional<std::string> maskNumberText(const policy::Masker& masker, policy::NumberForm form,
                                          std::string_view text, bool keep_type, std::string* hit) {
  const policy::ColumnPlan scan{nullptr, true};
  if (auto masked = masker.maskValue(scan, text, hit)) {
    // Plain digits ("4111111111111111", "4111111111111111.00"): masked where they stand.
    if (keep_type) return policy::zeroHiddenDigits(text, *masked);
    return masked;
  }
  auto number = policy::readIntegral(text, form);
  if (!number || number->digits == text) return std::nullopt;  // nothing the scan did not see
  auto masked = masker.maskValue(scan, number->digits, hit);
  if (!masked) return std::nullopt;
  if (!keep_type) return (number->negative ? "-" : "") + *masked;
  auto written =
      policy::writeIntegralLike(text, form, policy::zeroHiddenDigits(number->digits, *masked));
  return written ? *std::move(written) : std::string("0");  // never the card number
}

namespace {

// Money elements of array and record text are quoted (their grouping has commas or spaces):
// {"$4,111,111,111,111,111.00"}. Each quoted element written as money whose integer `rewrite`
// changes is written again in the same notation.
std::optional<std::string> rewriteQuotedMoney(std::string_view text,
                                              const policy::IntegralRewriter& rewrite) {
  policy::TextSplicer out(text);
  for (size_t open = text.find('"'); open != std::string_view::npos;) {
    size_t close = open + 1;
    while (close < text.size() && text[close] != '"') close += text[close] == '\\' ? 2 : 1;
    if (close >= text.size()) break;
    const std::string_view element = text.substr(open + 1, close - open - 1);
    if (looksLikeMoney(element)) {
      auto number = policy::readIntegral(element, policy::NumberForm::kMoney);
      auto digits = number ? rewrite(number->digits) : std::nullopt;
      auto written = digits
                         ? policy::writeIntegralLike(element, policy::NumberForm::kMoney, *digits)
                         : std::nullopt;
      if (written) out.replace(open + 1, close, *written);
    }
    open = text.find('"', close + 1);
  }
  return out.finish();
}

}  // namespace

std::optional<std::string> maskOtherText(const policy::Masker& masker,
                                         const policy::ColumnPlan& plan, std::string_view text,
                                         std::string* hit) {
  // (bytea hex runs are decoded by Masker::maskText itself.)
  // Numbers in array/record text stay numbers, hidden digits zeroed: float8 elements
  // ({4.111111111111111e+15}), numeric ones with a zero fraction ({4111111111111111.00}) and
  // money ({"$4,111,111,111,111,111.00"}).
  auto zeroed = [&](std::string_view digits) -> std::optional<std::string> {
    auto m = masker.maskValue(plan, digits, hit->empty() ? hit : nullptr);
    return m ? std::optional<std::string>(policy::zeroHiddenDigits(digits, *m)) : std::nullopt;
  };
  std::optional<std::string> numbers;
  std::string_view current = text;
  for (auto* pass : {&policy::rewriteExponentIntegers, &policy::rewriteZeroFractionIntegers,
                     &rewriteQuotedMoney}) {
    if (auto rewritten = pass(current, zeroed)) {
      numbers = std::move(rewritten);
      current = *numbers;
    }
  }
  auto masked = masker.maskValue(plan, current, hit->empty() ? hit : nullptr);
  if (masked) return masked;
  return numbers;
}

bool looksLikeMoney(std::string_view text) {
  constexpr size_t kMaxAround = 8;  // currency symbol or code, sign, parentheses, spaces
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t begin = 0;
  while (begin < text.size() && !digit(text[begin])) ++begin;
  size_t end = text.size();
  while (end > begin && !digit(text[end - 1])) --end;
  if (begin == end || begin > kMaxAround || text.size() - end > kMaxAround) return false;
  // Digit runs between separators of one to three bytes (a UTF-8 no-break space is two or
  // three): the first run 1-3 digits, then runs of exactly 3, then an optional 1-2 digit
  // fraction.
  size_t groups = 0;
  size_t i = begin;
  while (i < end) {
    size_t run = 0;
    while (i < end && digit(text[i])) ++run, ++i;
    const bool last = i == end;
    if (groups == 0) {
      if (run < 1 || run > 3) return false;
    } else if (run != 3 && !(last && groups >= 2 && (run == 1 || run == 2))) {
      return false;
    }
    ++groups;
    size_t sep = 0;
    while (i < end && !digit(text[i])) ++sep, ++i;
    if (sep > 3) return false;
  }
  return groups >= 3;
}

}  // namespace tollgate::sidecar::postgres
