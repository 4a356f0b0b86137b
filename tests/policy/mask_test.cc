// Tests for mask actions: PCI display (first 6 / first 8 / last 4), last-4, redact, keyed hash.
#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "policy/detect/pan.h"
#include "policy/mask/mask_action.h"
#include "tests/policy/pan_testing.h"

namespace tollgate::policy {
namespace {

using testing::formatPan;
using testing::makePan;

MaskAction pci(int first, int last) {
  MaskAction a;
  a.kind = MaskAction::Kind::kPciDisplay;
  a.keep_first = first;
  a.keep_last = last;
  return a;
}
MaskAction ofKind(MaskAction::Kind k) {
  MaskAction a;
  a.kind = k;
  return a;
}
MaskAction hashAction(bool keep_length) {
  MaskAction a;
  a.kind = MaskAction::Kind::kHash;
  a.hash_key = "k3y";
  a.hash_keep_length = keep_length;
  return a;
}

// Expected mask, spelled out: digit k (0-based) of `digits` total is kept when k < first or
// k >= digits - last; other digits become '*'; separators stay.
std::string expectMask(const std::string& formatted, size_t first, size_t last) {
  size_t digits = 0;
  for (char c : formatted) digits += (c >= '0' && c <= '9') ? 1 : 0;
  std::string out = formatted;
  size_t k = 0;
  for (char& c : out) {
    if (c < '0' || c > '9') continue;
    if (k >= first && k < digits - last) c = '*';
    ++k;
  }
  return out;
}

TEST_CASE("hmacSha256Hex: RFC 4231 test cases 1 and 2") {
  CHECK(hmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmacSha256Hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST_CASE("maskPan: every length x separator keeps first 6 / first 8 / last 4") {
  const std::vector<std::pair<std::string, std::vector<size_t>>> prefixes = {
      {"4", {13, 16, 19}},
      {"37", {15}},
      {"36", {14}},
      {"51", {16}},
      {"6011", {16, 17, 18, 19}},
      {"56", {12, 13, 14, 15, 16, 17, 18, 19}}};
  for (const auto& [prefix, lengths] : prefixes) {
    for (size_t len : lengths) {
      for (char sep : {'\0', ' ', '-'}) {
        const std::string pan = formatPan(makePan(prefix, len, len), sep);
        INFO(pan);
        CHECK(maskPan(pan, pci(6, 4)) == expectMask(pan, 6, 4));
        // First 8 only for numbers of 16 digits or more (PCI); shorter ones keep 6.
        CHECK(maskPan(pan, pci(8, 4)) == expectMask(pan, len >= 16 ? 8 : 6, 4));
        CHECK(maskPan(pan, ofKind(MaskAction::Kind::kLast4)) == expectMask(pan, 0, 4));
        CHECK(maskPan(pan, ofKind(MaskAction::Kind::kRedact)) == expectMask(pan, 0, 0));
        for (const MaskAction& a : {pci(6, 4), pci(8, 4), ofKind(MaskAction::Kind::kLast4),
                                    ofKind(MaskAction::Kind::kRedact), hashAction(true)}) {
          const std::string masked = maskPan(pan, a);
          CHECK(masked.size() == pan.size());
          CHECK_FALSE(containsPan(masked));
        }
      }
    }
  }
}

TEST_CASE("maskPan: reveal is capped at PCI limits whatever the policy asks") {
  const std::string pan = "4111111111111111";
  CHECK(maskPan(pan, pci(12, 9)) == "41111111****1111");
  CHECK(maskPan(pan, pci(0, 0)) == "****************");
  CHECK(maskPan(pan, pci(0, 4)) == "************1111");
  CHECK(maskPan("378282246310005", pci(8, 4)) == "378282*****0005");
}

TEST_CASE("maskPan: the mask character is configurable but never a digit or dash") {
  MaskAction a = pci(6, 4);
  a.mask_char = 'X';
  CHECK(maskPan("4111-1111-1111-1111", a) == "4111-11XX-XXXX-1111");
  a.mask_char = '0';
  CHECK(maskPan("4111-1111-1111-1111", a) == "4111-11**-****-1111");
  a.mask_char = '-';
  CHECK(maskPan("4111111111111111", a) == "411111******1111");
}

TEST_CASE("maskPan: keyed hash joins across formats and keeps the length") {
  const MaskAction h = hashAction(true);
  const std::string plain = maskPan("4111111111111111", h);
  const std::string spaced = maskPan("4111 1111 1111 1111", h);
  CHECK(plain.size() == 16);
  CHECK(spaced.size() == 19);
  CHECK(spaced[4] == ' ');
  std::string spaced_digits;
  for (char c : spaced) {
    if (c != ' ') spaced_digits.push_back(c);
  }
  CHECK(spaced_digits == plain);
  const std::string full = hmacSha256Hex("k3y", "4111111111111111");
  CHECK(plain == full.substr(0, 16));
  CHECK(maskPan("4111 1111 1111 1111", hashAction(false)) == full);
  MaskAction other = h;
  other.hash_key = "other";
  CHECK(maskPan("4111111111111111", other) != plain);
}

TEST_CASE("maskValue: digit values behave like PANs, other values are redacted") {
  CHECK(maskValue("4111 1111 1111 1111", pci(6, 4)) == "4111 11** **** 1111");
  CHECK(maskValue("123", pci(6, 4)) == "***");  // a CVV reveals nothing
  CHECK(maskValue("12345678901", pci(6, 4)) == "***********");
  CHECK(maskValue("555-123-4567", ofKind(MaskAction::Kind::kLast4)) == "***-***-4567");
  CHECK(maskValue("1234567", ofKind(MaskAction::Kind::kLast4)) == "*******");
  CHECK(maskValue("tok_abc 12/27", pci(6, 4)) == "******* *****");
  CHECK(maskValue("José-Ü", ofKind(MaskAction::Kind::kRedact)) == "*****-**");
  CHECK(maskValue("", ofKind(MaskAction::Kind::kRedact)).empty());
  CHECK(maskValue("a\tb", ofKind(MaskAction::Kind::kRedact)) == "*\t*");
}

TEST_CASE("maskValue: hash of a non-digit value is cut or repeated to its length") {
  const std::string digest = hmacSha256Hex("k3y", "alice@example.com");
  CHECK(maskValue("alice@example.com", hashAction(true)) == digest.substr(0, 17));
  const std::string long_value(100, 'z');
  const std::string long_digest = hmacSha256Hex("k3y", long_value);
  const std::string masked = maskValue(long_value, hashAction(true));
  REQUIRE(masked.size() == 100);
  CHECK(masked.substr(0, 64) == long_digest);
  CHECK(masked.substr(64) == long_digest.substr(0, 36));
  CHECK(maskValue("alice@example.com", hashAction(false)) == digest);
}

}  // namespace
}  // namespace tollgate::policy
