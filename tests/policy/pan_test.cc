// Tests for the PAN scanner: every brand, length and separator, false-positive traps, and
// boundaries.
#include "policy/detect/pan.h"

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "tests/policy/pan_testing.h"

namespace tollgate::policy {
namespace {

using testing::breakLuhn;
using testing::formatPan;
using testing::makePan;

struct BrandCase {
  CardBrand brand;
  std::vector<std::string> prefixes;
  std::vector<size_t> lengths;
};

// From PCI.md. Prefixes are chosen so random middle digits cannot move the number into a more
// specific brand (62 -> 620/629 avoids Discover's 622126-622925; Maestro avoids 60/62/64/65).
const std::vector<BrandCase>& brandCases() {
  static const std::vector<BrandCase> kCases = {
      {CardBrand::kVisa, {"4", "49"}, {13, 16, 19}},
      {CardBrand::kMastercard, {"51", "55", "2221", "2720", "2500"}, {16}},
      {CardBrand::kAmex, {"34", "37"}, {15}},
      {CardBrand::kDiscover, {"6011", "622126", "622925", "644", "649", "65"}, {16, 17, 18, 19}},
      {CardBrand::kJcb, {"3528", "3589"}, {16}},
      {CardBrand::kDiners, {"300", "305", "309", "36", "38", "39"}, {14}},
      {CardBrand::kUnionPay, {"620", "629"}, {16, 17, 18, 19}},
      {CardBrand::kMaestro, {"50", "56", "59", "63", "67", "69"}, {12, 13, 14, 15, 16, 17, 18, 19}},
  };
  return kCases;
}

std::vector<PanMatch> find(const std::string& text) {
  std::vector<PanMatch> out;
  findPans(text, out);
  return out;
}

TEST_CASE("luhnValid: known numbers, separators skipped, too few digits fail") {
  CHECK(luhnValid("79927398713"));
  CHECK_FALSE(luhnValid("79927398710"));
  CHECK(luhnValid("4111111111111111"));
  CHECK(luhnValid("4111 1111-1111 1111"));
  CHECK_FALSE(luhnValid("4111111111111112"));
  CHECK_FALSE(luhnValid(""));
  CHECK_FALSE(luhnValid("0"));
  CHECK(luhnValid("00"));
}

TEST_CASE("cardBrand: every brand at its lengths, and unknown off-length") {
  for (const BrandCase& bc : brandCases()) {
    for (const std::string& prefix : bc.prefixes) {
      for (size_t len : bc.lengths) {
        const std::string pan = makePan(prefix, len, len);
        INFO(pan);
        CHECK(cardBrand(pan) == bc.brand);
      }
    }
  }
  CHECK(cardBrand(makePan("4", 15)) == CardBrand::kUnknown);   // Visa has no 15
  CHECK(cardBrand(makePan("37", 16)) == CardBrand::kUnknown);  // Amex is 15 only
  CHECK(cardBrand(makePan("51", 15)) == CardBrand::kUnknown);  // Mastercard is 16 only
  CHECK(cardBrand(makePan("2221", 17)) == CardBrand::kUnknown);
  CHECK(cardBrand(makePan("36", 16)) == CardBrand::kUnknown);    // Diners is 14 only
  CHECK(cardBrand(makePan("1", 13)) == CardBrand::kUnknown);     // timestamps
  CHECK(cardBrand(makePan("2220", 16)) == CardBrand::kUnknown);  // just below 2221
  CHECK(cardBrand(makePan("2721", 16)) == CardBrand::kUnknown);  // just above 2720
  CHECK(cardBrand(makePan("6011", 13)) == CardBrand::kMaestro);  // 60 at a non-Discover length
  CHECK(cardBrand(makePan("4", 20)) == CardBrand::kUnknown);
  CHECK(cardBrand(makePan("4", 11)) == CardBrand::kUnknown);
  CHECK(brandName(CardBrand::kAmex) == "amex");
}

TEST_CASE("findPans: every brand x length x separator is found with the right span") {
  int checked = 0;
  for (const BrandCase& bc : brandCases()) {
    for (const std::string& prefix : bc.prefixes) {
      for (size_t len : bc.lengths) {
        for (char sep : {'\0', ' ', '-'}) {
          const std::string pan = formatPan(makePan(prefix, len, len * 31 + 7), sep);
          const std::string text = "paid with " + pan + " today";
          INFO(text);
          const auto m = find(text);
          REQUIRE(m.size() == 1);
          CHECK(m[0].begin == 10);
          CHECK(m[0].end == 10 + pan.size());
          CHECK(m[0].digits == len);
          CHECK(m[0].brand == bc.brand);
          CHECK(containsPan(text));
          ++checked;
        }
      }
    }
  }
  CHECK(checked > 200);
}

TEST_CASE("findPans: other plausible groupings (Amex 4-6-5, Diners 4-6-4, 4-4-4-4-3)") {
  for (const std::string text : {"3782 822463 10005", "3056-930902-5904", "4111 1111 1111 1111 003",
                                 "4111 111 111 1118", "371449-635398-431", "5555 5555 5555 4444"}) {
    INFO(text);
    // Not every one above is Luhn-valid by construction; compare with the digit-only form.
    std::string digits;
    for (char c : std::string(text)) {
      if (c != ' ' && c != '-') digits.push_back(c);
    }
    const bool expect = luhnValid(digits) && cardBrand(digits) != CardBrand::kUnknown;
    CHECK(find(text).size() == (expect ? 1u : 0u));
  }
  CHECK(find("3782 822463 10005").size() == 1);
  CHECK(find("5555 5555 5555 4444").size() == 1);
}

TEST_CASE("findPans: 13-digit millisecond timestamps are never PANs") {
  CHECK(find("1732550400000").empty());
  CHECK(find("1700000000000").empty());
  CHECK(find("created_at=1732550400000,updated_at=1700000000000").empty());
  // Every Luhn-valid 13-digit value starting with 1 (what ms timestamps look like until 2033).
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    const std::string ts = makePan("1", 13, seed);
    INFO(ts);
    REQUIRE(find("t=" + ts + ";").empty());
  }
}

TEST_CASE("findPans: a Luhn-valid 13-digit value starting with 4 is a Visa 13 (by design)") {
  const std::string v13 = makePan("4", 13, 5);
  const auto m = find("id " + v13);
  REQUIRE(m.size() == 1);
  CHECK(m[0].brand == CardBrand::kVisa);
  CHECK(find("id " + breakLuhn(v13)).empty());
}

TEST_CASE("findPans: false-positive traps") {
  const std::string visa = makePan("4", 16, 3);
  const std::string maestro12 = makePan("56", 12, 3);
  const std::vector<std::string> traps = {
      // UUIDs, including one whose last piece is a Luhn-valid all-digit Maestro 12.
      "123e4567-e89b-12d3-a456-426614174000",
      "123e4567-e89b-12d3-a456-" + maestro12,
      "12345678-1234-1234-1234-" + maestro12,
      maestro12 + "-1234-1234-1234-123456789012",
      // Order ids that fail Luhn.
      "order " + breakLuhn(visa),
      "ORD-" + breakLuhn(makePan("51", 16)),
      // Phone numbers.
      "+1-555-123-4567",
      "0044 20 7946 0958",
      "+44 20 7946 0958",
      "+1 (415) 555-2671",
      "tel:+49-30-1234567-89",
      // 20+ digit runs containing a PAN.
      visa + "1",
      "9" + visa,
      "00000" + visa + "00000",
      formatPan(makePan("4", 19), '-') + "-1",
      visa.substr(0, 4) + "-" + visa.substr(4, 4) + "-" + visa.substr(8, 4) + "-" +
          visa.substr(12, 4) + "-2024",
      // Digits glued to letters (hex ids) or joined into identifiers.
      visa + "abc",
      "ab" + visa,
      "x" + formatPan(visa, ' '),
      "ORD-" + visa,
      visa + "-v2",
      "deadbeef" + visa + "cafe",
      // Mixed and double separators.
      visa.substr(0, 4) + "-" + visa.substr(4, 4) + " " + visa.substr(8, 4) + "-" +
          visa.substr(12, 4),
      visa.substr(0, 4) + "  " + visa.substr(4, 4) + "  " + visa.substr(8, 4) + "  " +
          visa.substr(12, 4),
      visa.substr(0, 4) + "--" + visa.substr(4, 4) + "--" + visa.substr(8, 4) + "--" +
          visa.substr(12, 4),
      // Two groups only, or groups of odd shape.
      visa.substr(0, 8) + " " + visa.substr(8),
      visa.substr(0, 2) + " " + visa.substr(2, 2) + " " + visa.substr(4, 12),
      // Decimals, versions, IP addresses, ISO dates.
      "0." + visa,
      visa + ".25",
      visa + ".05",
      visa + ".00x",
      "v1." + visa,
      "192.168.100.200",
      "10.41.111.111:5432",
      "2024-11-25",
      "2024-11-25T10:30:00.123Z",
      "2024-11-25 10:30:00",
  };
  for (const std::string& t : traps) {
    INFO(t);
    CHECK(find(t).empty());
    CHECK_FALSE(containsPan(t));
  }
}

TEST_CASE("findPans: boundaries at text edges, punctuation, JSON and CSV") {
  const std::string pan = makePan("4", 16, 11);
  const std::string spaced = formatPan(pan, ' ');
  struct Case {
    std::string text;
    size_t begin;
    size_t len;
  };
  const std::vector<Case> cases = {
      {pan, 0, 16},
      {spaced, 0, 19},
      {"x " + pan, 2, 16},
      {pan + "\n", 0, 16},
      {"(" + pan + ")", 1, 16},
      {"\"" + spaced + "\"", 1, 19},
      {"card:" + pan + ".", 5, 16},
      {"card_" + pan, 5, 16},
      {"{\"pan\":\"" + pan + "\",\"n\":1}", 8, 16},
      {"1," + pan + ",12.50", 2, 16},
      {"1732550400000," + spaced + ",+1-555-123-4567", 14, 19},
      {"qty 2 " + spaced, 6, 19},
      {"year 2024 " + spaced + " ok", 10, 19},
      {"-" + pan, 1, 16},
      {pan + "-", 0, 16},
      {"a - " + pan + " - b", 4, 16},
      // A zero fraction leaves an integer (numeric text inside arrays, records, ::text).
      {pan + ".00", 0, 16},
      {"{" + pan + ".0," + "1.5}", 1, 16},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const auto m = find(c.text);
    REQUIRE(m.size() == 1);
    CHECK(m[0].begin == c.begin);
    CHECK(m[0].end == c.begin + c.len);
  }
}

TEST_CASE("findPans: several numbers come out ordered and disjoint") {
  const std::string a = makePan("4", 16, 1);
  const std::string b = formatPan(makePan("37", 15, 2), '-');
  const std::string c = formatPan(makePan("51", 16, 3), ' ');
  const std::string text = a + "," + b + ";" + c + " " + a;
  const auto m = find(text);
  REQUIRE(m.size() == 4);
  for (size_t i = 1; i < m.size(); ++i) CHECK(m[i - 1].end < m[i].begin);
  CHECK(text.substr(m[1].begin, m[1].end - m[1].begin) == b);
  CHECK(text.substr(m[2].begin, m[2].end - m[2].begin) == c);
  CHECK(m[1].brand == CardBrand::kAmex);
  // Two space-grouped cards back to back: leftmost-longest takes the first, then the second.
  const std::string two = formatPan(makePan("4", 16, 8), ' ') + " " + c;
  const auto m2 = find(two);
  REQUIRE(m2.size() == 2);
  CHECK(m2[0].end == 19);
  CHECK(m2[1].begin == 20);
}

TEST_CASE("findPans: card inside a very long space-joined chain, at every slice offset") {
  // Chains longer than the scanner's group buffer are judged in overlapping slices; a card
  // straddling a slice edge must still be found exactly once.
  const std::string card = formatPan(makePan("4", 16, 21), ' ');
  for (int before = 40; before < 140; ++before) {
    std::string text;
    for (int i = 0; i < before; ++i) text += "7 ";
    text += card;
    for (int i = 0; i < 30; ++i) text += " 7";
    INFO(before);
    const auto m = find(text);
    REQUIRE(m.size() == 1);
    CHECK(m[0].begin == static_cast<size_t>(before) * 2);
    CHECK(m[0].end == m[0].begin + card.size());
  }
}

TEST_CASE("findPans: appends to out and returns the count") {
  std::vector<PanMatch> out(1);
  CHECK(findPans("a 4111111111111111 b 5555555555554444", out) == 2);
  CHECK(out.size() == 3);
  CHECK(findPans("nothing here 123", out) == 0);
  CHECK(out.size() == 3);
  CHECK(findPans("", out) == 0);
}

TEST_CASE("findPans: random text agrees with containsPan and keeps matches in bounds") {
  uint64_t x = 42;
  const char alphabet[] = "0123456789012345678901234567890123456789 -.abx,";
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const size_t n = 1 + round % 120;
    for (size_t i = 0; i < n; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      text.push_back(alphabet[(x >> 33) % (sizeof(alphabet) - 1)]);
    }
    std::vector<PanMatch> m;
    findPans(text, m);
    REQUIRE(containsPan(text) == !m.empty());
    for (size_t i = 0; i < m.size(); ++i) {
      REQUIRE(m[i].begin < m[i].end);
      REQUIRE(m[i].end <= text.size());
      if (i > 0) REQUIRE(m[i - 1].end <= m[i].begin);
      const std::string span = text.substr(m[i].begin, m[i].end - m[i].begin);
      REQUIRE(luhnValid(span));
      REQUIRE(cardBrand(span) == m[i].brand);
    }
  }
}

}  // namespace
}  // namespace tollgate::policy
