// Fuzz target for reading integers out of number renderings and writing them back
// (policy/detect/number_forms.h).
//
// Input: one selector byte (even: decimal form, odd: money form), then the text. Invariants
// (abort() on failure): an integer read is 1..kMaxIntegralDigits digits without a leading zero;
// writing its own digits back reads back the same integer (and, without an exponent, gives the
// text unchanged); writing the zero-masked digits succeeds and reads back as them; rewriting the
// exponent-form integers of the text is idempotent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "policy/detect/number_forms.h"
#include "policy/mask/masker.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tollgate::fuzz::check;
using tollgate::policy::NumberForm;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("number_forms_fuzz", in);
  if (size == 0) return 0;
  const NumberForm form = (data[0] & 1) != 0 ? NumberForm::kMoney : NumberForm::kDecimal;
  const std::string_view text = in.substr(1);
  // Free-text rewriting with a fixed rewriter is idempotent: a second pass finds the same
  // integers and writes them the same way.
  auto ones = [](std::string_view d) {
    return std::optional<std::string>(std::string(d.size(), '1'));
  };
  if (auto once = tollgate::policy::rewriteExponentIntegers(text, ones)) {
    auto twice = tollgate::policy::rewriteExponentIntegers(*once, ones);
    check(!twice || *twice == *once, "exponent rewrite is idempotent");
  }
  auto number = tollgate::policy::readIntegral(text, form);
  if (!number) return 0;
  const std::string& digits = number->digits;
  check(!digits.empty() && digits.size() <= tollgate::policy::kMaxIntegralDigits, "length");
  check(digits.find_first_not_of("0123456789") == std::string::npos, "only digits");
  check(digits == "0" || digits[0] != '0', "no leading zero");

  auto same = tollgate::policy::writeIntegralLike(text, form, digits);
  check(same.has_value(), "its own digits can be written back");
  auto again = tollgate::policy::readIntegral(*same, form);
  check(again && again->digits == digits, "written back reads the same integer");
  const bool has_exponent =
      form == NumberForm::kDecimal && text.find_first_of("eE") != std::string_view::npos;
  if (!has_exponent) check(*same == text, "in-place rewrite of the same digits is the identity");

  // What the result masker does with a computed number: mask, zero the hidden digits.
  const std::string masked = tollgate::policy::scrubPans(digits);
  std::string zeroed = tollgate::policy::zeroHiddenDigits(digits, masked);
  if (zeroed.size() > 1 && zeroed[0] == '0') return 0;  // a mask never hides the first digit
  auto written = tollgate::policy::writeIntegralLike(text, form, zeroed);
  check(written.has_value(), "zero-masked digits can be written back");
  auto read = tollgate::policy::readIntegral(*written, form);
  check(read && read->digits == zeroed, "zero-masked value reads back");
  return 0;
}
