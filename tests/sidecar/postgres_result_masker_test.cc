// Result-set masking: which columns change, how RowDescription is rewritten, DataRow values.
#include "sidecar/postgres/result_masker.h"

#include <catch2/catch_test_macros.hpp>

#include "policy/mask/masker.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/wire.h"

using namespace tollgate::sidecar::postgres;
using tollgate::policy::Masker;
using tollgate::policy::MaskingRuleSpec;

namespace {

std::shared_ptr<const Masker> testMasker() {
  MaskingRuleSpec pan;
  pan.name = "pan";
  pan.detector = "pan";
  MaskingRuleSpec cvv;
  cvv.name = "cvv";
  cvv.columns = {"cvv"};
  cvv.action.kind = tollgate::policy::MaskAction::Kind::kRedact;
  auto m = Masker::compile({pan, cvv}, {});
  REQUIRE(m.ok());
  return *m;
}

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
  auto masker = testMasker();
  std::vector<FieldDescription> fields = {field("pan_num", oid::kInt8, 1000, 1)};
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, {1}, false);
  CHECK(rm.textColumns() == std::vector<uint16_t>{0});
  auto bin = textToBinary(oid::kInt8, "4111111111111111");
  auto bin_other = textToBinary(oid::kInt8, "42");
  for (auto [input, expect] : {std::pair{*bin, std::string("411111******1111")},
                               std::pair{*bin_other, std::string("42")}}) {
    std::vector<std::optional<std::string_view>> values = {input};
    std::string row_raw = buildDataRow(values);
    auto row = parse<DataRow>(row_raw);
    std::string out;
    uint64_t masked = 0;
    // Even an unmasked value is rewritten: the client was told this column is text.
    REQUIRE(rm.maskRow(row, &out, &masked, nullptr));
    auto result = parse<DataRow>(out);
    CHECK(*result.columns.begin() == std::optional<std::string_view>(expect));
  }
}

TEST_CASE("a binary jsonb column under a column rule is sent as text, without the version byte") {
  auto masker = testMasker();
  std::vector<FieldDescription> fields = {field("cvv", oid::kJsonb, 1000, 1)};
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, {1}, false);
  CHECK(rm.textColumns() == std::vector<uint16_t>{0});
  for (auto [input, expect] : {std::pair{std::string("\x01\"605\"", 6), std::string("*****")},
                               std::pair{std::string("\x01", 1), std::string()}}) {
    std::vector<std::optional<std::string_view>> values = {input};
    std::string row_raw = buildDataRow(values);
    auto row = parse<DataRow>(row_raw);
    std::string out;
    uint64_t masked = 0;
    REQUIRE(rm.maskRow(row, &out, &masked, nullptr));
    auto result = parse<DataRow>(out);
    CHECK(*result.columns.begin() == std::optional<std::string_view>(expect));
  }
}

TEST_CASE("computed numbers keep their type and hide digits with zeros") {
  auto masker = testMasker();
  std::vector<FieldDescription> fields = {field("max", oid::kInt8, 0, 0),
                                          field("sum", oid::kNumeric, 0, 1)};
  std::string desc_raw = buildRowDescription(fields);
  auto desc = parse<RowDescription>(desc_raw);
  ResultMasker rm(masker.get(), desc, {0, 1}, false);
  CHECK(rm.textColumns().empty());
  auto numeric = textToBinary(oid::kNumeric, "5555555555554444");
  std::vector<std::optional<std::string_view>> values = {"4111111111111111", *numeric};
  std::string row_raw = buildDataRow(values);
  auto row = parse<DataRow>(row_raw);
  std::string out;
  uint64_t masked = 0;
  REQUIRE(rm.maskRow(row, &out, &masked, nullptr));
  auto result = parse<DataRow>(out);
  auto it = result.columns.begin();
  CHECK(**it == "4111110000001111");
  ++it;
  CHECK(numericBinaryToText(**it) == "5555550000004444");
}
