// Binary <-> text conversion of the numeric types a card number can hide in.
#include "sidecar/postgres/pg_types.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <optional>
#include <string>
#include <vector>

using namespace tollgate::sidecar::postgres;

TEST_CASE("numeric text round-trips through the binary form") {
  auto text = GENERATE(as<std::string>{}, "0", "1", "-1", "4111111111111111", "10000",
                       "123456789012345678901234567890", "0.5", "-0.0001", "3.14159",
                       "4111111111111111.00", "100.10", "99990000", "0.00");
  auto bin = textToBinary(oid::kNumeric, text);
  REQUIRE(bin);
  auto back = numericBinaryToText(*bin);
  REQUIRE(back);
  CHECK(*back == text);
}

TEST_CASE("int8 text round-trips through the binary form") {
  auto text = GENERATE(as<std::string>{}, "0", "-1", "4111111111111111", "9223372036854775807",
                       "-9223372036854775808");
  auto bin = textToBinary(oid::kInt8, text);
  REQUIRE(bin);
  CHECK(bin->size() == 8);
  CHECK(binaryToText(oid::kInt8, *bin) == text);
}

TEST_CASE("malformed numbers are refused, never guessed") {
  CHECK_FALSE(textToBinary(oid::kInt8, "41111111111111111111111"));
  CHECK_FALSE(textToBinary(oid::kInt8, "12a"));
  CHECK_FALSE(textToBinary(oid::kNumeric, "1.2.3"));
  CHECK_FALSE(textToBinary(oid::kNumeric, ""));
  CHECK_FALSE(textToBinary(oid::kText, "1"));
  CHECK_FALSE(binaryToText(oid::kInt8, "1234"));
  CHECK_FALSE(binaryToText(oid::kInt4, "12345"));
  // ndigits says 2 but only one digit follows.
  std::string bad("\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01", 10);
  CHECK_FALSE(numericBinaryToText(bad));
  // A digit out of base-10000 range.
  std::string big("\x00\x01\x00\x00\x00\x00\x00\x00\x27\x10", 10);
  CHECK_FALSE(numericBinaryToText(big));
}

TEST_CASE("special numeric values and small types") {
  CHECK(numericBinaryToText(std::string("\x00\x00\x00\x00\xc0\x00\x00\x00", 8)) == "NaN");
  CHECK(binaryToText(oid::kInt2, std::string("\xff\xfe", 2)) == "-2");
  CHECK(binaryToText(oid::kInt4, std::string("\x00\x00\x01\x00", 4)) == "256");
  CHECK(binaryToText(oid::kFloat8, std::string("\x3f\xf0\x00\x00\x00\x00\x00\x00", 8)) == "1");
}

TEST_CASE("shapes") {
  CHECK(shapeOf(oid::kText) == ValueShape::kText);
  CHECK(shapeOf(oid::kVarchar) == ValueShape::kText);
  CHECK(shapeOf(oid::kInt8) == ValueShape::kBigNumber);
  CHECK(shapeOf(oid::kNumeric) == ValueShape::kBigNumber);
  CHECK(shapeOf(oid::kInt4) == ValueShape::kSmallNumber);
  CHECK(shapeOf(oid::kFloat8) == ValueShape::kBigNumber);
  CHECK(shapeOf(oid::kMoney) == ValueShape::kBigNumber);
  CHECK(shapeOf(oid::kFloat4) == ValueShape::kSmallNumber);  // 8 exact digits at most
  CHECK(shapeOf(oid::kJsonb) == ValueShape::kJsonb);
  CHECK(shapeOf(2950) == ValueShape::kOther);  // uuid
}

// Regression: float8 was a "small number" and never scanned, yet it holds integers up to 2^53
// exactly, so a card number cast to float8 reached the client in clear. The masker needs its
// binary form as text and the masked text back in binary.
TEST_CASE("float8 card number survives the binary round trip exactly") {
  struct Case {
    const char* text;
    const char* binary_hex;  // IEEE 754 big-endian
    const char* back;        // binaryToText's shortest exact form
  };
  for (const Case& c : std::vector<Case>{
           {"4111111111111111", "432d36114ad1e38e", "4111111111111111"},
           {"4.111111111111111e+15", "432d36114ad1e38e", "4111111111111111"},
           {"+4.111110000001111e15", "432d3610c65d80ae", "4111110000001111"},
           {"-12.5", "c029000000000000", "-12.5"},
           {"1e+20", "4415af1d78b58c40", "1e+20"},
           {"0", "0000000000000000", "0"},
       }) {
    INFO(c.text);
    auto bin = textToBinary(oid::kFloat8, c.text);
    REQUIRE(bin);
    REQUIRE(bin->size() == 8);
    std::string hex;
    for (char ch : *bin) {
      static constexpr char kHex[] = "0123456789abcdef";
      hex += kHex[static_cast<unsigned char>(ch) >> 4];
      hex += kHex[static_cast<unsigned char>(ch) & 0xf];
    }
    CHECK(hex == c.binary_hex);
    CHECK(binaryToText(oid::kFloat8, *bin) == c.back);
  }
  CHECK(binaryToText(oid::kFloat8, std::string("\x7f\xf8\0\0\0\0\0\0", 8)) == "NaN");
  CHECK(binaryToText(oid::kFloat8, std::string("\xff\xf0\0\0\0\0\0\0", 8)) == "-Infinity");
  CHECK_FALSE(textToBinary(oid::kFloat8, "4.1e"));
  CHECK_FALSE(textToBinary(oid::kFloat8, ""));
  CHECK_FALSE(binaryToText(oid::kFloat8, "1234"));
}

// Regression: money (int8 cents) was opaque, so `pan::money` in binary format passed unscanned.
TEST_CASE("money binary is int8 cents, written with two decimals") {
  struct Case {
    const char* text;
    int64_t cents;
  };
  for (const Case& c : std::vector<Case>{
           {"4111111111111111.00", 411111111111111100},
           {"-0.05", -5},
           {"0.00", 0},
           {"92233720368547758.07", INT64_MAX},
           {"-92233720368547758.08", INT64_MIN},
       }) {
    INFO(c.text);
    auto bin = textToBinary(oid::kMoney, c.text);
    REQUIRE(bin);
    auto expect = textToBinary(oid::kInt8, std::to_string(c.cents));
    CHECK(*bin == *expect);
    CHECK(binaryToText(oid::kMoney, *bin) == c.text);
  }
  CHECK(textToBinary(oid::kMoney, "12.5") == textToBinary(oid::kInt8, "1250"));
  CHECK(textToBinary(oid::kMoney, "12") == textToBinary(oid::kInt8, "1200"));
  for (const char* bad : {"92233720368547758.08", "1.234", "1.", "$1.00", "", "-", "1,000.00"}) {
    INFO(bad);
    CHECK_FALSE(textToBinary(oid::kMoney, bad));
  }
}
