// Random ids: never a run of digits a card-number scan of the audit trail would flag.
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string>

#include "common/random_id.h"

namespace tollgate {
namespace {

TEST_CASE("digit runs are measured") {
  CHECK(longestDigitRun("") == 0);
  CHECK(longestDigitRun("abcdef") == 0);
  CHECK(longestDigitRun("a12b345c") == 3);
  CHECK(longestDigitRun("4111111111111111") == 16);
  CHECK(longestDigitRun("ab411111111111") == 12);
}

// Regression: a session id "3412662197863866" (all digits, Luhn-valid) made the audit trail
// hold what a PAN scan reports as a card number.
TEST_CASE("random ids are hex of the asked length, distinct, with no run of 12 digits") {
  std::set<std::string> seen;
  for (int i = 0; i < 200000; ++i) {
    const std::string id = randomHexId(8);
    REQUIRE(id.size() == 16);
    REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    REQUIRE(longestDigitRun(id) < 12);
    seen.insert(id);
  }
  CHECK(seen.size() == 200000);
}

}  // namespace
}  // namespace tollgate
