// Tests for reading integers out of decimal/exponent/money notation and writing them back
// (policy/detect/number_forms.h).
#include "policy/detect/number_forms.h"

#include <catch2/catch_test_macros.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tollgate::policy {
namespace {

struct ReadCase {
  const char* text;
  NumberForm form;
  std::optional<std::string> digits;  // nullopt: not an integral number of that form
  bool negative = false;
};

std::vector<ReadCase> readCases() {
  const auto kD = NumberForm::kDecimal;
  const auto kM = NumberForm::kMoney;
  return {
      {"4111111111111111", kD, "4111111111111111"},
      {"4.111111111111111e+15", kD, "4111111111111111"},  // float8 text, PostgreSQL 15
      {"4.111111111111111e15", kD, "4111111111111111"},
      {"4.111111111111111E15", kD, "4111111111111111"},
      {"-4.111111111111111e+15", kD, "4111111111111111", true},
      {"+4.111111111111111e+15", kD, "4111111111111111"},
      {"41111111111111.11e2", kD, "4111111111111111"},
      {"411111111111111100e-2", kD, "4111111111111111"},
      {"4.1e3", kD, "4100"},
      {"4111111111111111.000", kD, "4111111111111111"},
      {"0004111", kD, "4111"},
      {"5.", kD, "5"},
      {".5e1", kD, "5"},
      {"0", kD, "0"},
      {"-0.0", kD, "0", true},
      {"0e999999999999", kD, "0"},
      {"1e18", kD, "1000000000000000000"},
      {"9.999999999999999999e18", kD, "9999999999999999999"},
      {"1e19", kD, std::nullopt},  // 20 digits: more than a card number
      {"1e999999999999999999999", kD, std::nullopt},
      {"4.1111111111111115e15", kD, std::nullopt},  // nonzero fraction
      {"0.5", kD, std::nullopt},
      {"1e-1", kD, std::nullopt},
      {"", kD, std::nullopt},
      {"-", kD, std::nullopt},
      {".", kD, std::nullopt},
      {"e5", kD, std::nullopt},
      {"1e", kD, std::nullopt},
      {"1e+", kD, std::nullopt},
      {"1.2.3", kD, std::nullopt},
      {"NaN", kD, std::nullopt},
      {"Infinity", kD, std::nullopt},
      {"4111 1111", kD, std::nullopt},
      {"$4,111,111,111,111,111.00", kD, std::nullopt},  // money needs the money form
      {"$4,111,111,111,111,111.00", kM, "4111111111111111"},
      {"-$4,111,111,111,111,111.00", kM, "4111111111111111", true},
      {"($4,111,111,111,111,111.00)", kM, "4111111111111111", true},
      {"4.111.111.111.111.111,00 €", kM, "4111111111111111"},
      {"4 111 111 111 111 111,00 kr", kM, "4111111111111111"},
      {"₹4,11,11,11,11,11,11,111.00", kM, "4111111111111111"},
      {"¥4,111,111,111,111,111", kM, "4111111111111111"},  // no fraction digits
      {"$4,111.5", kM, std::nullopt},                      // one fraction digit, nonzero
      {"$0.00", kM, "0"},
      {"$41,111,111,111,111.11", kM, std::nullopt},  // nonzero cents
      {"$", kM, std::nullopt},
  };
}

TEST_CASE("readIntegral reads the integer a number rendering stands for") {
  for (const ReadCase& c : readCases()) {
    INFO(c.text);
    auto got = readIntegral(c.text, c.form);
    REQUIRE(got.has_value() == c.digits.has_value());
    if (!got) continue;
    CHECK(got->digits == *c.digits);
    CHECK(got->negative == c.negative);
  }
}

struct WriteCase {
  const char* original;
  NumberForm form;
  const char* digits;
  std::optional<std::string> expected;
};

std::vector<WriteCase> writeCases() {
  const auto kD = NumberForm::kDecimal;
  const auto kM = NumberForm::kMoney;
  return {
      {"4111111111111111", kD, "4111110000001111", "4111110000001111"},
      {"-4111111111111111.00", kD, "4111110000001111", "-4111110000001111.00"},
      {"0004111111111111111", kD, "4111110000001111", "0004111110000001111"},
      {"4.111111111111111e+15", kD, "4111110000001111", "4.111110000001111e+15"},
      {"-4.111111111111111E15", kD, "4111110000001111", "-4.111110000001111E15"},
      {"41111111111111.11e2", kD, "4111110000001111", "4.111110000001111e15"},
      {"4.111111111111111e+15", kD, "4000000000000000", "4e+15"},
      {"4e0", kD, "7", "7e0"},
      {"$4,111,111,111,111,111.00", kM, "4111110000001111", "$4,111,110,000,001,111.00"},
      {"-4.111.111.111.111.111,00 €", kM, "4111110000001111", "-4.111.110.000.001.111,00 €"},
      {"$0.00", kM, "0", "$0.00"},
      // Refused: wrong length, not digits, not an integral original.
      {"4.111111111111111e+15", kD, "411111000000111", std::nullopt},
      {"4.111111111111111e+15", kD, "411111******1111", std::nullopt},
      // A mask that hid the first digits (last4): leading zeros.
      {"4.111111111111111e+15", kD, "0000000000001111", "1.111e+3"},
      {"$4,111,111,111,111,111.00", kM, "0000000000001111", "$0,000,000,000,001,111.00"},
      {"4111111111111111.5", kD, "4111110000001111", std::nullopt},
      {"$0.00", kM, "1", std::nullopt},
  };
}

TEST_CASE("writeIntegralLike writes new digits in the original's notation") {
  for (const WriteCase& c : writeCases()) {
    INFO(c.original << " <- " << c.digits);
    auto got = writeIntegralLike(c.original, c.form, c.digits);
    REQUIRE(got.has_value() == c.expected.has_value());
    if (!got) continue;
    CHECK(*got == *c.expected);
    // What was written reads back as the digits given (without leading zeros).
    auto back = readIntegral(*got, c.form);
    REQUIRE(back);
    std::string_view want = c.digits;
    while (want.size() > 1 && want[0] == '0') want.remove_prefix(1);
    CHECK(back->digits == want);
  }
}

TEST_CASE("zeroHiddenDigits keeps the original's length and shape") {
  struct Case {
    const char* original;
    const char* masked;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{
           {"4111111111111111", "411111******1111", "4111110000001111"},
           {"-4111111111111111", "-411111******1111", "-4111110000001111"},
           {"4111111111111111", "4111114a5b3c1111", "4111114050301111"},  // hash digits stay
           // A mask longer than the value (hash without keep-length) is cut, never kept.
           {"4111111111111111", "0123456789abcdef0123", "0123456789000000"},
           {"4111111111111111", "41111", "4111100000000000"},
       }) {
    INFO(c.original << " / " << c.masked);
    CHECK(zeroHiddenDigits(c.original, c.masked) == c.expected);
  }
}

}  // namespace
}  // namespace tollgate::policy

namespace tollgate::policy {
namespace {

// Regression: `SELECT array_agg(pan::float8)` in text format is {4.111111111111111e+15}: the
// float8 elements of array and record text were never read as integers.
TEST_CASE("rewriteExponentIntegers rewrites integers in exponent form inside free text") {
  auto zero_pan = [](std::string_view digits) -> std::optional<std::string> {
    if (digits != "4111111111111111") return std::nullopt;
    return std::string("4111110000001111");
  };
  struct Case {
    const char* text;
    std::optional<std::string> expected;
  };
  for (const Case& c : std::vector<Case>{
           {"{4.111111111111111e+15,1.5}", "{4.111110000001111e+15,1.5}"},
           {"{{1,-4.111111111111111e+15},{NULL,4.111111111111111E15}}",
            "{{1,-4.111110000001111e+15},{NULL,4.111110000001111E15}}"},
           {"(7,4.111111111111111e+15,\"x\")", "(7,4.111110000001111e+15,\"x\")"},
           {"{4.111111111111112e+15,1e+300}", std::nullopt},  // not the card number
           {"{a4.111111111111111e+15}", std::nullopt},        // part of a longer token
           {"{4.111111111111111e+15x}", std::nullopt},
           {"{4.111111111111111e}", std::nullopt},
           {"e+15 E e", std::nullopt},
           {"", std::nullopt},
       }) {
    INFO(c.text);
    CHECK(rewriteExponentIntegers(c.text, zero_pan) == c.expected);
  }
}

// Regression: `SELECT ARRAY[pan::numeric(30,2)]` is {4111111111111111.00}; the detector read
// the fraction as part of a longer token, and starring it would break the client's numeric[].
TEST_CASE("rewriteZeroFractionIntegers rewrites integers written with a zero fraction") {
  auto zero_pan = [](std::string_view digits) -> std::optional<std::string> {
    if (digits != "4111111111111111") return std::nullopt;
    return std::string("4111110000001111");
  };
  struct Case {
    const char* text;
    std::optional<std::string> expected;
  };
  for (const Case& c : std::vector<Case>{
           {"{4111111111111111.00,1.5}", "{4111110000001111.00,1.5}"},
           {"(7,4111111111111111.0,\"x\")", "(7,4111110000001111.0,\"x\")"},
           {"{-4111111111111111.000}", "{-4111110000001111.000}"},
           {"{4111111111111111.05}", std::nullopt},  // a fraction: no card number
           {"{4111111111111111.00x}", std::nullopt},
           {"{a4111111111111111.00}", std::nullopt},
           {"{1.4111111111111111.00}", std::nullopt},
           {"4111111111111111.", std::nullopt},
           {"", std::nullopt},
       }) {
    INFO(c.text);
    CHECK(rewriteZeroFractionIntegers(c.text, zero_pan) == c.expected);
  }
}

}  // namespace
}  // namespace tollgate::policy
