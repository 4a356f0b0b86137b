// Result-set masking: which columns change, how RowDescription is rewritten, DataRow values.
#include "sidecar/postgres/result_masker.h"

#include <catch2/catch_test_macros.hpp>

#include "policy/mask/masker.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/wire.h"
#include "tests/sidecar/postgres_test_masker.h"

using namespace tollgate::sidecar::postgres;
using tollgate::policy::Masker;

namespace {

std::shared_ptr<const Masker> testMasker() { return testing::panAndCvvMasker(); }

FieldDescription field(std::string_view name, uint32_t type, uint32_t table, int16_t format) {
  FieldDescription f;
  f.name = name;
  f.type_oid = type;
  f.table_oid = table;
  f.type_size = -1;
  f.type_modifier = -1;
  f.format = format;
  return f;
}

// Parses a whole message built by the builders back into its body.
template <typename T>
T parse(const std::string& raw) {
  auto body = parseBackendBody(raw[0], std::string_view(raw).substr(kHeaderSize));
  REQUIRE(body.ok());
  return std::get<T>(*body);
}

// Masks one row of `values` under `fields` and returns the client's values ("NULL" for NULL),
// or nothing when the row is forwarded as it is. Result formats come from the description, or
// from `bind_formats` (Bind's list) when given.
struct Masked {
  bool changed = false;
  std::vector<std::string> values;
  std::vector<uint16_t> text_columns;
  std::string hit;
};

Masked maskOne(const std::vector<FieldDescription>& fields,
               const std::vector<std::optional<std::string_view>>& values,
               const std::optional<std::vector<int16_t>>& bind_formats = std::nullopt,
               std::shared_ptr<const Masker> masker = testMasker()) {
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, bind_formats.value_or(std::vector<int16_t>{}),
                  !bind_formats.has_value());
  Masked m;
  m.text_columns = rm.textColumns();
  std::string row_raw = buildDataRow(values);
  auto row = parse<DataRow>(row_raw);
  std::string out;
  uint64_t count = 0;
  m.changed = rm.maskRow(row, &out, &count, &m.hit);
  if (!m.changed) return m;
  auto result = parse<DataRow>(out);
  for (auto v : result.columns) m.values.emplace_back(v ? *v : "NULL");
  return m;
}

}  // namespace

TEST_CASE("text, bigint and cvv columns are masked; the row keeps valid lengths") {
  auto masker = testMasker();
  std::vector<FieldDescription> fields = {
      field("id", oid::kInt4, 1000, 0), field("pan", oid::kText, 1000, 0),
      field("pan_num", oid::kInt8, 1000, 0), field("cvv", oid::kText, 1000, 0),
      field("note", oid::kText, 1000, 0)};
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, {}, true);
  REQUIRE(rm.active());
  // The bigint column becomes text for the client; the others keep their types.
  CHECK(rm.textColumns() == std::vector<uint16_t>{2});

  std::vector<std::optional<std::string_view>> values = {
      "7", "4111111111111111", "5555555555554444", "123", "paid at 1732550400000"};
  std::string row_raw = buildDataRow(values);
  auto row = parse<DataRow>(row_raw);
  std::string out, hit;
  uint64_t masked = 0;
  REQUIRE(rm.maskRow(row, &out, &masked, &hit));
  CHECK(masked == 3);
  CHECK(hit == "pan");
  auto result = parse<DataRow>(out);
  std::vector<std::string> got;
  for (auto v : result.columns) got.emplace_back(v ? *v : "NULL");
  CHECK(got == std::vector<std::string>{"7", "411111******1111", "555555******4444", "***",
                                        "paid at 1732550400000"});
}

TEST_CASE("rows without card data are forwarded untouched (no copy)") {
  auto masker = testMasker();
  std::vector<FieldDescription> fields = {field("note", oid::kText, 0, 0)};
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, {}, true);
  std::vector<std::optional<std::string_view>> values = {"order 1001, phone +1-555-867-5309"};
  std::string row_raw = buildDataRow(values);
  auto row = parse<DataRow>(row_raw);
  std::string out;
  uint64_t masked = 0;
  CHECK_FALSE(rm.maskRow(row, &out, &masked, nullptr));
  CHECK(masked == 0);
}

TEST_CASE("NULLs stay NULL and small integer columns are never touched") {
  auto masker = testMasker();
  std::vector<FieldDescription> fields = {field("n", oid::kInt4, 1, 0),
                                          field("cvv", oid::kText, 1, 0)};
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, {}, true);
  std::vector<std::optional<std::string_view>> values = {"41111111", std::nullopt};
  std::string row_raw = buildDataRow(values);
  auto row = parse<DataRow>(row_raw);
  std::string out;
  uint64_t masked = 0;
  CHECK_FALSE(rm.maskRow(row, &out, &masked, nullptr));
}

TEST_CASE("binary bigint card numbers are sent as masked text") {
  auto bin = textToBinary(oid::kInt8, "4111111111111111");
  auto bin_other = textToBinary(oid::kInt8, "42");
  for (auto [input, expect] : {std::pair{*bin, std::string("411111******1111")},
                               std::pair{*bin_other, std::string("42")}}) {
    Masked m = maskOne({field("pan_num", oid::kInt8, 1000, 1)}, {input}, {{1}});
    CHECK(m.text_columns == std::vector<uint16_t>{0});
    // Even an unmasked value is rewritten: the client was told this column is text.
    REQUIRE(m.changed);
    CHECK(m.values == std::vector<std::string>{expect});
  }
}

TEST_CASE("a binary jsonb column under a column rule is sent as text, without the version byte") {
  for (auto [input, expect] : {std::pair{std::string("\x01\"605\"", 6), std::string("*****")},
                               std::pair{std::string("\x01", 1), std::string()}}) {
    Masked m = maskOne({field("cvv", oid::kJsonb, 1000, 1)}, {input}, {{1}});
    CHECK(m.text_columns == std::vector<uint16_t>{0});
    REQUIRE(m.changed);
    CHECK(m.values == std::vector<std::string>{expect});
  }
}

TEST_CASE("computed numbers keep their type and hide digits with zeros") {
  auto numeric = textToBinary(oid::kNumeric, "5555555555554444");
  Masked m = maskOne({field("max", oid::kInt8, 0, 0), field("sum", oid::kNumeric, 0, 1)},
                     {"4111111111111111", *numeric}, {{0, 1}});
  CHECK(m.text_columns.empty());
  REQUIRE(m.changed);
  REQUIRE(m.values.size() == 2);
  CHECK(m.values[0] == "4111110000001111");
  CHECK(numericBinaryToText(m.values[1]) == "5555550000004444");
}

namespace {

std::string bin(uint32_t type_oid, std::string_view text) {
  auto b = textToBinary(type_oid, text);
  REQUIRE(b);
  return *b;
}

std::string i32(int32_t v) {
  char b[4];
  storeU32(b, static_cast<uint32_t>(v));
  return std::string(b, 4);
}

// array_send of a one-dimensional array without NULLs.
std::string array(uint32_t elem_oid, const std::vector<std::string>& elems) {
  std::string out = i32(1) + i32(0) + i32(static_cast<int32_t>(elem_oid)) +
                    i32(static_cast<int32_t>(elems.size())) + i32(1);
  for (const std::string& e : elems) out += i32(static_cast<int32_t>(e.size())) + e;
  return out;
}

struct NumberCase {
  const char* name;
  uint32_t type_oid;
  uint32_t table_oid;  // 0: computed (keeps its type)
  int16_t format;
  std::string input;
  std::optional<std::string> expected;  // nullopt: row forwarded untouched
  bool as_text;                         // described to the client as text
};

std::vector<NumberCase> numberCases() {
  const uint32_t kTable = 16384;
  const std::string kMaskedPan = "411111******1111";
  return {
      // float8: PostgreSQL 15 text output, extra_float_digits = 1.
      {"computed float8 text", oid::kFloat8, 0, 0, "4.111111111111111e+15", "4.111110000001111e+15",
       false},
      {"computed float8 binary", oid::kFloat8, 0, 1, bin(oid::kFloat8, "4111111111111111"),
       bin(oid::kFloat8, "4111110000001111"), false},
      {"computed 13-digit float8 in plain notation", oid::kFloat8, 0, 0, "4222222222222",
       "4222220002222", false},
      {"negative computed float8", oid::kFloat8, 0, 0, "-4.111111111111111e+15",
       "-4.111110000001111e+15", false},
      // Table float8 and money columns keep their type too (measurements, amounts).
      {"table float8 text", oid::kFloat8, kTable, 0, "4.111111111111111e+15",
       "4.111110000001111e+15", false},
      {"table float8 binary", oid::kFloat8, kTable, 1, bin(oid::kFloat8, "4111111111111111"),
       bin(oid::kFloat8, "4111110000001111"), false},
      {"table float8 binary without a card number is forwarded", oid::kFloat8, kTable, 1,
       bin(oid::kFloat8, "-12.5"), std::nullopt, false},
      {"float8 with a fraction is no card number", oid::kFloat8, 0, 0, "4111111111111111.5",
       std::nullopt, false},
      {"ordinary float8", oid::kFloat8, 0, 0, "1.5e+20", std::nullopt, false},
      // money: lc_monetary en_US / C.
      {"computed money text", oid::kMoney, 0, 0, "$4,111,111,111,111,111.00",
       "$4,111,110,000,001,111.00", false},
      {"computed money binary", oid::kMoney, 0, 1, bin(oid::kMoney, "4111111111111111.00"),
       bin(oid::kMoney, "4111110000001111.00"), false},
      {"negative money in another locale", oid::kMoney, 0, 0, "-4.111.111.111.111.111,00 €",
       "-4.111.110.000.001.111,00 €", false},
      {"table money text", oid::kMoney, kTable, 0, "$4,111,111,111,111,111.00",
       "$4,111,110,000,001,111.00", false},
      {"table money binary", oid::kMoney, kTable, 1, bin(oid::kMoney, "4111111111111111.00"),
       bin(oid::kMoney, "4111110000001111.00"), false},
      // Table int8 and numeric columns are how card numbers get stored as numbers: text.
      {"table int8 text", oid::kInt8, kTable, 0, "4111111111111111", kMaskedPan, true},
      {"table numeric binary", oid::kNumeric, kTable, 1, bin(oid::kNumeric, "4111111111111111"),
       kMaskedPan, true},
      {"ordinary money", oid::kMoney, 0, 0, "$1,234.56", std::nullopt, false},
      // The existing plain forms still work.
      {"computed int8", oid::kInt8, 0, 0, "4111111111111111", "4111110000001111", false},
      {"computed numeric with zero fraction", oid::kNumeric, 0, 0, "4111111111111111.00",
       "4111110000001111.00", false},
  };
}

}  // namespace

// Regression: float8 and money columns were never scanned, so `SELECT pan::float8` (text
// 4.111111111111111e+15) and `SELECT pan::money` ($4,111,111,111,111,111.00) showed the card
// number in clear.
TEST_CASE("card numbers in float8 and money values are masked, keeping the type if computed") {
  for (const NumberCase& c : numberCases()) {
    INFO(c.name);
    Masked m = maskOne({field("v", c.type_oid, c.table_oid, c.format)}, {c.input});
    CHECK(m.text_columns == (c.as_text ? std::vector<uint16_t>{0} : std::vector<uint16_t>{}));
    REQUIRE(m.changed == c.expected.has_value());
    if (!m.changed) continue;
    CHECK(m.values == std::vector<std::string>{*c.expected});
    if (!c.as_text || c.expected->find('*') != std::string::npos) {
      CHECK(m.hit == "pan");
    } else {
      CHECK(m.hit.empty());  // only converted to the text the client was promised
    }
  }
}

namespace {

// numeric(p, s)'s type modifier; PostgreSQL 15 allows a negative scale.
int32_t numericTypmod(int precision, int scale) {
  return ((precision << 16) | (scale & 0x7ff)) + 4;
}

}  // namespace

TEST_CASE("a table numeric too narrow for a card number keeps its type") {
  struct Case {
    int precision, scale;
    bool as_text;
  };
  for (Case c : {Case{12, 2, false}, Case{11, 0, false}, Case{5, -6, false}, Case{12, 0, true},
                 Case{20, 2, true}, Case{8, -4, true}}) {
    INFO(c.precision << "," << c.scale);
    FieldDescription f = field("amount", oid::kNumeric, 16384, 0);
    f.type_modifier = numericTypmod(c.precision, c.scale);
    Masked m = maskOne({f}, {"1234.50"});
    CHECK(m.text_columns == (c.as_text ? std::vector<uint16_t>{0} : std::vector<uint16_t>{}));
    CHECK_FALSE(m.changed);
  }
}

TEST_CASE("masking.keepNumberTypes keeps named int8/numeric columns numbers, still masked") {
  auto masker = testing::panAndCvvMasker(true, {"id", "*_ID"});
  auto card = bin(oid::kInt8, "4111111111111111");
  Masked m = maskOne({field("id", oid::kInt8, 16384, 1), field("card_id", oid::kNumeric, 16384, 0),
                      field("pan_num", oid::kInt8, 16384, 0), field("cvv", oid::kInt8, 16384, 0)},
                     {card, "5555555555554444", "4111111111111111", "605"}, {{1, 0, 0, 0}}, masker);
  // pan_num is named by no glob, and a column rule (cvv) always turns its column into text.
  CHECK(m.text_columns == std::vector<uint16_t>{2, 3});
  REQUIRE(m.changed);
  REQUIRE(m.values.size() == 4);
  CHECK(m.values[0] == bin(oid::kInt8, "4111110000001111"));
  CHECK(m.values[1] == "5555550000004444");
  CHECK(m.values[2] == "411111******1111");
  CHECK(m.values[3] == "***");
  // An id that is no card number is forwarded as it is.
  Masked plain =
      maskOne({field("id", oid::kInt8, 16384, 1)}, {bin(oid::kInt8, "42")}, {{1}}, masker);
  CHECK(plain.text_columns.empty());
  CHECK_FALSE(plain.changed);
}

TEST_CASE("a column-name rule on a float8 or money column still masks it as text") {
  for (uint32_t type : {oid::kFloat8, oid::kMoney}) {
    INFO(type);
    const std::string value = bin(type, "605");
    Masked m = maskOne({field("cvv", type, 16384, 1)}, {value});
    CHECK(m.text_columns == std::vector<uint16_t>{0});
    REQUIRE(m.changed);
    CHECK(m.hit == "cvv");
    CHECK(m.values.front().find_first_not_of('*') == std::string::npos);
  }
}

// Regression: `SELECT pan::bytea` in text format (bytea_output = hex) is "\x3431...", the ASCII
// digits in hex, which the detector never saw.
TEST_CASE("card numbers in hex bytea text are masked, hex of the same length") {
  const std::string pan_hex = "\\x34313131313131313131313131313131";
  const std::string masked_hex = "\\x3431313131312a2a2a2a2a2a31313131";
  struct Case {
    const char* name;
    uint32_t type_oid;
    int16_t format;
    std::string input;
    std::optional<std::string> expected;
  };
  for (const Case& c : std::vector<Case>{
           {"bytea hex text", oid::kBytea, 0, pan_hex, masked_hex},
           {"bytea[] text", 1001, 0, "{\"\\" + pan_hex + "\"}", "{\"\\" + masked_hex + "\"}"},
           {"bytea escape text is plain digits", oid::kBytea, 0, "card 4111111111111111",
            "card 411111******1111"},
           {"binary bytea is raw bytes", oid::kBytea, 1,
            "\x01"
            "4111111111111111",
            "\x01"
            "411111******1111"},
           {"bytea without a card number", oid::kBytea, 0, "\\x" + std::string(32, '0'),
            std::nullopt},
           // Regression: in escape format a newline is \012, glued to the next card number's
           // digits ("\0124111...": a 19-digit run to the detector).
           {"bytea escape text after an octal escape", oid::kBytea, 0,
            "\\0124111111111111111\\012\\\\", "\\012411111******1111\\012\\\\"},
           // Regression: hex inside a text value (bytea::text, row_to_json(), format()).
           {"bytea hex inside text", oid::kText, 0, "raw " + pan_hex, "raw " + masked_hex},
       }) {
    INFO(c.name);
    Masked m = maskOne({field("b", c.type_oid, 16384, c.format)}, {c.input});
    CHECK(m.text_columns.empty());
    REQUIRE(m.changed == c.expected.has_value());
    if (!m.changed) continue;
    CHECK(m.values == std::vector<std::string>{*c.expected});
    CHECK(m.values.front().size() == c.input.size());
    CHECK(m.hit == "pan");
  }
}

// Regression: a json column keeps numbers as written ({"n":4.111111111111111e15}), and the
// field-aware rewrite only scanned plain digit numbers.
TEST_CASE("card numbers in exponent-form json numbers are masked") {
  Masked m = maskOne({field("doc", oid::kJson, 0, 0)},
                     {R"({"n":4.111111111111111e15,"m":4.111111111111111e+15,"x":1.5})"});
  REQUIRE(m.changed);
  CHECK(m.values ==
        std::vector<std::string>{R"({"n":"411111******1111","m":"411111******1111","x":1.5})"});
  CHECK(m.hit == "pan");
}

// Regression: binary float8/money elements of arrays and records were opaque leaves.
TEST_CASE("float8 and money elements of binary arrays stay numbers with zeros") {
  struct Case {
    const char* name;
    uint32_t array_oid;
    uint32_t elem_oid;
    const char* pan;
    const char* zeroed;
  };
  for (const Case& c : std::vector<Case>{
           {"float8[]", 1022, oid::kFloat8, "4111111111111111", "4111110000001111"},
           {"money[]", 791, oid::kMoney, "4111111111111111.00", "4111110000001111.00"},
       }) {
    INFO(c.name);
    const std::string input = array(c.elem_oid, {bin(c.elem_oid, "42"), bin(c.elem_oid, c.pan)});
    Masked m = maskOne({field("a", c.array_oid, 16384, 1)}, {input});
    REQUIRE(m.changed);
    CHECK(m.values == std::vector<std::string>{
                          array(c.elem_oid, {bin(c.elem_oid, "42"), bin(c.elem_oid, c.zeroed)})});
    CHECK(m.hit == "pan");
  }
}

// Regression: `SELECT array_agg(pan::float8)` in text format ({4.111111111111111e+15}) passed,
// since array text is scanned as text and the exponent form hides the digit run.
TEST_CASE("float8 elements of array text are masked and stay numbers") {
  Masked m = maskOne({field("a", 1022, 0, 0)}, {"{4.111111111111111e+15,1.5,NULL}"});
  REQUIRE(m.changed);
  CHECK(m.values == std::vector<std::string>{"{4.111110000001111e+15,1.5,NULL}"});
  CHECK(m.hit == "pan");
}

// Regression: money and zero-fraction numeric elements of array and record text passed; they
// are masked and stay valid elements of their type.
TEST_CASE("money and numeric elements of array and record text are masked and stay numbers") {
  struct Case {
    uint32_t type_oid;
    std::string input;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {791, "{\"$4,111,111,111,111,111.00\",$1.00}", "{\"$4,111,110,000,001,111.00\",$1.00}"},
           {2249, "(7,\"-$4,111,111,111,111,111.00\")", "(7,\"-$4,111,110,000,001,111.00\")"},
           {1231, "{4111111111111111.00,1.50}", "{4111110000001111.00,1.50}"},
           // Regression: plain integers were starred, and drivers decoding an int8[] crashed.
           {1016, "{4111111111111111,42,NULL}", "{4111110000001111,42,NULL}"},
           {1231, "{{5555555555554444},{7}}", "{{5555550000004444},{7}}"},
       }) {
    INFO(c.input);
    Masked m = maskOne({field("a", c.type_oid, 0, 0)}, {c.input});
    REQUIRE(m.changed);
    CHECK(m.values == std::vector<std::string>{c.expected});
  }
}
