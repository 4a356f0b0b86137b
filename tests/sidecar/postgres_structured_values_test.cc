// Tests for masking inside binary arrays, records and composite values (structured_values.h).
#include "sidecar/postgres/structured_values.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "policy/detect/number_forms.h"
#include "policy/detect/pan.h"
#include "policy/mask/masker.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/wire.h"
#include "tests/sidecar/postgres_test_values.h"

namespace tollgate::sidecar::postgres {
namespace {

constexpr uint32_t kTextArray = 1009;
constexpr uint32_t kInt8Array = 1016;
constexpr uint32_t kNumericArray = 1231;
constexpr uint32_t kFloat8Array = 1022;
constexpr uint32_t kMoneyArray = 791;
constexpr uint32_t kJsonbArray = 3807;
constexpr uint32_t kRecord = 2249;
constexpr uint32_t kRecordArray = 2287;
constexpr uint32_t kBytea = 17;
constexpr uint32_t kInt4 = 23;
constexpr uint32_t kUserRow = 16390;       // e.g. the row type of table "cards"
constexpr uint32_t kUserRowArray = 16389;  // its array type

const std::string kPan = "4111111111111111";
const std::string kMasked = "411111******1111";

using testing::array;
using testing::i32;
using testing::Opt;
using testing::record;

std::string bin(uint32_t type_oid, const std::string& text) {
  auto b = textToBinary(type_oid, text);
  REQUIRE(b);
  return *b;
}

// What the sidecar's leaf does: text and jsonb scanned with the PCI display mask, numbers
// (int8, numeric, float8, money) read as integers and zero-masked so they stay numbers.
struct TestLeaf {
  int calls = 0;
  std::optional<std::string> operator()(uint32_t type_oid, std::string_view b) {
    ++calls;
    switch (shapeOf(type_oid)) {
      case ValueShape::kBigNumber: {
        auto text = binaryToText(type_oid, b);
        if (!text) return std::nullopt;
        const auto form =
            type_oid == oid::kMoney ? policy::NumberForm::kMoney : policy::NumberForm::kDecimal;
        auto number = policy::readIntegral(*text, form);
        if (!number || !policy::containsPan(number->digits)) return std::nullopt;
        const std::string m = policy::scrubPans(number->digits);
        auto written =
            policy::writeIntegralLike(*text, form, policy::zeroHiddenDigits(number->digits, m));
        REQUIRE(written);
        return textToBinary(type_oid, *written);
      }
      case ValueShape::kJsonb:
        if (b.empty() || !policy::containsPan(b.substr(1))) return std::nullopt;
        return std::string(1, b[0]) + policy::scrubPans(b.substr(1));
      default:
        if (!policy::containsPan(b)) return std::nullopt;
        return policy::scrubPans(b);
    }
  }
};

Opt mask(uint32_t type_oid, const std::string& bytes, TestLeaf* leaf = nullptr) {
  TestLeaf local;
  TestLeaf& l = leaf != nullptr ? *leaf : local;
  return maskBinaryValue(type_oid, bytes, [&](uint32_t o, std::string_view b) { return l(o, b); });
}

struct Case {
  const char* name;
  uint32_t type_oid;
  std::string input;
  Opt expected;  // nullopt: unchanged
};

std::vector<Case> cases() {
  const std::string pan_row = record({{kInt4, i32(7)}, {25, kPan}});
  const std::string masked_row = record({{kInt4, i32(7)}, {25, kMasked}});
  return {
      {"1-d text array", kTextArray, array(25, {3}, {"a", kPan, "b"}),
       array(25, {3}, {"a", kMasked, "b"})},
      {"2-d text array", kTextArray, array(25, {2, 2}, {"x", "y", kPan, "z"}),
       array(25, {2, 2}, {"x", "y", kMasked, "z"})},
      {"NULL elements", kTextArray, array(25, {3}, {std::nullopt, kPan, std::nullopt}),
       array(25, {3}, {std::nullopt, kMasked, std::nullopt})},
      {"empty array", kTextArray, array(25, {}, {}), std::nullopt},
      {"no card number", kTextArray, array(25, {2}, {"4111", "1111111111111"}), std::nullopt},
      {"int8 array holding a PAN", kInt8Array, array(20, {2}, {bin(20, "42"), bin(20, kPan)}),
       array(20, {2}, {bin(20, "42"), bin(20, "4111110000001111")})},
      {"numeric array holding a PAN", kNumericArray, array(1700, {1}, {bin(1700, kPan)}),
       array(1700, {1}, {bin(1700, "4111110000001111")})},
      {"jsonb array", kJsonbArray, array(3802, {1}, {"\x01{\"pan\": \"" + kPan + "\"}"}),
       array(3802, {1}, {"\x01{\"pan\": \"" + kMasked + "\"}"})},
      {"record holding a PAN", kRecord, pan_row, masked_row},
      {"record with NULL field", kRecord, record({{25, std::nullopt}, {25, kPan}}),
       record({{25, std::nullopt}, {25, kMasked}})},
      {"nested record in array", kRecordArray, array(kRecord, {2}, {pan_row, std::nullopt}),
       array(kRecord, {2}, {masked_row, std::nullopt})},
      {"record holding an array", kRecord,
       record({{kInt4, i32(1)}, {kTextArray, array(25, {1}, {kPan})}}),
       record({{kInt4, i32(1)}, {kTextArray, array(25, {1}, {kMasked})}})},
      {"user composite detected structurally", kUserRow,
       record({{kInt4, i32(1)}, {25, kPan}, {1043, "Visa"}}),
       record({{kInt4, i32(1)}, {25, kMasked}, {1043, "Visa"}})},
      {"array of user composite detected structurally", kUserRowArray,
       array(kUserRow, {2}, {record({{25, "ok"}}), record({{25, kPan}})}),
       array(kUserRow, {2}, {record({{25, "ok"}}), record({{25, kMasked}})})},
      {"user composite holding int8 PAN", kUserRow, record({{20, bin(20, kPan)}}),
       record({{20, bin(20, "4111110000001111")}})},
      {"bytea with ASCII PAN", kBytea, "\x01\x02" + kPan + "\xff", "\x01\x02" + kMasked + "\xff"},
      {"unknown scalar with ASCII PAN", 70000, "pan " + kPan, "pan " + kMasked},
      {"int4 array untouched", 1007, array(23, {2}, {i32(4111), i32(1111)}), std::nullopt},
      // Regression: float8 and money leaves were opaque, so a card number in one passed.
      {"float8 array holding a PAN", kFloat8Array,
       array(701, {2}, {bin(701, "1.5"), bin(701, kPan)}),
       array(701, {2}, {bin(701, "1.5"), bin(701, "4111110000001111")})},
      {"money array holding a PAN", kMoneyArray, array(790, {1}, {bin(790, kPan + ".00")}),
       array(790, {1}, {bin(790, "4111110000001111.00")})},
      {"record holding a float8 PAN", kRecord, record({{701, bin(701, kPan)}, {25, "x"}}),
       record({{701, bin(701, "4111110000001111")}, {25, "x"}})},
      {"float4 array untouched", 1021, array(700, {1}, {i32(0x5b69a0cf)}), std::nullopt},
      {"text leaf at top level", 25, "card " + kPan, "card " + kMasked},
  };
}

TEST_CASE("maskBinaryValue masks card numbers inside arrays and records") {
  for (const Case& c : cases()) {
    INFO(c.name);
    Opt got = mask(c.type_oid, c.input);
    CHECK(got == c.expected);
  }
}

TEST_CASE("array_agg of pans no longer leaks to binary clients") {
  // select array_agg(pan) from cards, received by asyncpg/psycopg3 in binary format.
  const std::string in = array(25, {3}, {kPan, "5555555555554444", "378282246310005"});
  Opt got = mask(kTextArray, in);
  REQUIRE(got);
  CHECK_FALSE(policy::containsPan(*got));
  CHECK(got->size() == in.size());
}

TEST_CASE("leaf output of another length is rebuilt with the new lengths") {
  const std::string in = record({{25, "a " + kPan}, {kTextArray, array(25, {1}, {kPan})}});
  Opt got = maskBinaryValue(kRecord, in, [](uint32_t, std::string_view b) -> Opt {
    if (!policy::containsPan(b)) return std::nullopt;
    return std::string("REDACTED");
  });
  CHECK(got == record({{25, "REDACTED"}, {kTextArray, array(25, {1}, {"REDACTED"})}}));
}

TEST_CASE("known array type with a foreign element OID falls back to the raw scan") {
  // A text[] whose header claims int4 elements is not what the server sends: raw scan only.
  const std::string in = array(23, {1}, {kPan});
  TestLeaf leaf;
  Opt got = mask(kTextArray, in, &leaf);
  CHECK(leaf.calls == 0);
  REQUIRE(got);
  CHECK(got->size() == in.size());
  CHECK_FALSE(policy::containsPan(*got));
}

TEST_CASE("structural validation rejects what array_send/record_send never produce") {
  struct Reject {
    const char* name;
    std::string input;
  };
  const std::vector<Reject> rejects = {
      {"NULL without has-null flag", array(25, {2}, {std::nullopt, kPan}, 0)},
      {"seven dimensions", array(25, {1, 1, 1, 1, 1, 1, 1}, {kPan})},
      {"zero dimension", array(25, {0}, {}) + i32(16) + kPan},
      {"bad flag", array(25, {1}, {kPan}, 2)},
      {"zero element OID", array(0, {1}, {kPan})},
      {"trailing bytes", array(25, {1}, {kPan}) + " "},
      {"record with zero OID", record({{0, kPan}})},
      {"record with trailing bytes", record({{25, kPan}}) + std::string(1, '\0')},
  };
  for (const Reject& r : rejects) {
    INFO(r.name);
    TestLeaf leaf;
    Opt got = mask(kUserRow, r.input, &leaf);
    CHECK(leaf.calls == 0);  // never decoded structurally
    REQUIRE(got);            // but the raw scan still finds the card number
    CHECK(got->size() == r.input.size());
    CHECK_FALSE(policy::containsPan(*got));
  }
}

TEST_CASE("truncated structured values never crash and never leak") {
  const std::string full =
      array(kRecord, {2},
            {record({{25, kPan}, {kTextArray, array(25, {1}, {"5555555555554444"})}}),
             record({{20, bin(20, kPan)}})});
  for (uint32_t type_oid : {kRecordArray, kUserRowArray}) {
    for (size_t n = 0; n < full.size(); ++n) {
      const std::string cut = full.substr(0, n);
      Opt got = mask(type_oid, cut);
      if (got) {
        CHECK(got->size() == cut.size());
        CHECK_FALSE(policy::containsPan(*got));
      } else {
        CHECK_FALSE(policy::containsPan(cut));
      }
    }
  }
}

TEST_CASE("garbage headers fall back to the raw scan") {
  const std::vector<std::string> garbage = {
      "",
      "\xff\xff\xff\xff",
      i32(1) + i32(0) + i32(25) + i32(0x7fffffff) + i32(1),  // huge dimension
      i32(1) + i32(0) + i32(25) + i32(2) + i32(0x7fffffff) + i32(1) + "a" + i32(1) + "b",
      i32(1) + i32(0) + i32(25) + i32(1) + i32(1) + i32(-5),            // negative length
      i32(1) + i32(0) + i32(25) + i32(1) + i32(1) + i32(1000) + "abc",  // length past end
      i32(0x7fffffff) + i32(25) + i32(1),                               // huge field count
      i32(2) + i32(25) + i32(3) + "abc",                                // fewer fields than count
  };
  for (const std::string& g : garbage) {
    for (uint32_t type_oid : {kTextArray, kRecord, kRecordArray, kUserRow}) {
      CHECK_FALSE(mask(type_oid, g));
      CHECK(mask(type_oid, g + " " + kPan) == g + " " + kMasked);
    }
  }
}

TEST_CASE("nesting deeper than the limit is raw-scanned, not recursed") {
  std::string v = record({{25, kPan}});
  for (int i = 0; i < kMaxStructuredDepth + 5; ++i) v = record({{kRecord, v}});
  TestLeaf leaf;
  Opt got = mask(kRecord, v, &leaf);
  CHECK(leaf.calls == 0);
  REQUIRE(got);
  CHECK(got->size() == v.size());
  CHECK_FALSE(policy::containsPan(*got));
}

// Regression: ranges, multiranges, geometric values and xid8 in binary format carried a card
// number as raw int8, numeric or float8 bytes, which the raw scan for ASCII digits never saw.
TEST_CASE("range bounds, geometric coordinates and xid8 holding a card number are masked") {
  const std::string pan8 = bin(20, kPan), zero8 = bin(20, "4111110000001111");
  const std::string panf = bin(701, kPan), zerof = bin(701, "4111110000001111");
  const std::string one8 = bin(20, "1"), onef = bin(701, "1");
  auto range = [](uint8_t flags, const std::vector<std::string>& bounds) {
    std::string out(1, static_cast<char>(flags));
    for (const auto& b : bounds) out += i32(static_cast<int32_t>(b.size())) + b;
    return out;
  };
  auto multi = [](const std::vector<std::string>& ranges) {
    std::string out = i32(static_cast<int32_t>(ranges.size()));
    for (const auto& r : ranges) out += i32(static_cast<int32_t>(r.size())) + r;
    return out;
  };
  const std::vector<Case> cases = {
      {"int8range [pan, pan+1)", 3926, range(0x02, {pan8, one8}), range(0x02, {zero8, one8})},
      {"int8range [pan, infinity)", 3926, range(0x02 | 0x10, {pan8}), range(0x02 | 0x10, {zero8})},
      {"numrange upper bound", 3906, range(0x02, {bin(1700, "1"), bin(1700, kPan)}),
       range(0x02, {bin(1700, "1"), bin(1700, "4111110000001111")})},
      {"empty range", 3926, range(0x01, {}), std::nullopt},
      {"int4range cannot hold one", 3904, range(0x02, {i32(1), i32(2)}), std::nullopt},
      {"int8multirange", 4536, multi({range(0x02, {one8, one8}), range(0x02, {pan8, one8})}),
       multi({range(0x02, {one8, one8}), range(0x02, {zero8, one8})})},
      {"int8range[]", 3927, array(3926, {1}, {range(0x02, {pan8, one8})}),
       array(3926, {1}, {range(0x02, {zero8, one8})})},
      {"point", 600, panf + onef, zerof + onef},
      {"box", 603, onef + onef + onef + panf, onef + onef + onef + zerof},
      {"polygon", 604, i32(2) + onef + panf + onef + onef, i32(2) + onef + zerof + onef + onef},
      {"path", 602, std::string(1, '\1') + i32(1) + panf + onef,
       std::string(1, '\1') + i32(1) + zerof + onef},
      {"point[]", 1017, array(600, {1}, {onef + panf}), array(600, {1}, {onef + zerof})},
      {"xid8", 5069, pan8, zero8},
      {"no card number", 3926, range(0x02, {one8, one8}), std::nullopt},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(mask(c.type_oid, c.input) == c.expected);
  }
  // Malformed: a bound length past the end, a point count that does not match.
  CHECK(mask(3926, range(0x02, {pan8}).substr(0, 6)) == std::nullopt);
  CHECK(mask(604, i32(5) + panf) == std::nullopt);
}

TEST_CASE("isKnownStructuredType names builtin arrays and record only") {
  CHECK(isKnownStructuredType(kTextArray));
  CHECK(isKnownStructuredType(kRecord));
  CHECK(isKnownStructuredType(kRecordArray));
  CHECK_FALSE(isKnownStructuredType(25));
  CHECK_FALSE(isKnownStructuredType(kBytea));
  CHECK_FALSE(isKnownStructuredType(kUserRow));
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
