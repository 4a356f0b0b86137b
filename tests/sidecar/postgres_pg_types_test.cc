// Binary <-> text conversion of the numeric types a card number can hide in.
#include "sidecar/postgres/pg_types.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

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
  CHECK(shapeOf(oid::kJsonb) == ValueShape::kJsonb);
  CHECK(shapeOf(2950) == ValueShape::kOther);  // uuid
}
