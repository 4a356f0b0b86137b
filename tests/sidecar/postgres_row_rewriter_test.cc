// DataRow value replacement and RowDescription text conversion for masking.
#include <catch2/catch_test_macros.hpp>

#include <optional>
#include <string>
#include <vector>

#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/row_rewriter.h"
#include "tests/sidecar/postgres_test_bytes.h"

namespace tollgate::sidecar::postgres {
namespace {

using namespace testing;  // NOLINT: byte helpers

DataRow parseRow(const std::string& raw) {
  absl::StatusOr<BackendBody> body = parseBackendBody('D', std::string_view(raw).substr(5));
  REQUIRE(body.ok());
  return std::get<DataRow>(*body);
}

std::string field(const std::string& name, uint32_t table, uint16_t attnum, uint32_t type,
                  uint16_t typlen, uint32_t typmod, uint16_t format) {
  return cstr(name) + be32(table) + be16(attnum) + be32(type) + be16(typlen) + be32(typmod) +
         be16(format);
}

TEST_CASE("DataRow rewrite replaces chosen values and fixes every length") {
  const std::string row =
      msg('D', be16(4) + value("7") + value("4111111111111111") + nullValue() + value("x"));
  const std::vector<ColumnReplacement> repl = {std::nullopt, "411111******1111", "NEVER",
                                               "a longer value"};
  std::string out = "prefix";
  REQUIRE(appendRewrittenDataRow(parseRow(row), repl, &out).ok());
  const std::string expected = msg('D', be16(4) + value("7") + value("411111******1111") +
                                            nullValue() + value("a longer value"));
  CHECK(out == "prefix" + expected);
  CHECK(rewrittenDataRowSize(parseRow(row), repl) == expected.size());
}

TEST_CASE("DataRow rewrite keeps NULLs NULL and columns past the replacement list") {
  const std::string row = msg('D', be16(3) + nullValue() + value("a") + value("b"));
  const std::vector<ColumnReplacement> repl = {"masked"};
  std::string out;
  REQUIRE(appendRewrittenDataRow(parseRow(row), repl, &out).ok());
  CHECK(out == row);
}

TEST_CASE("DataRow rewrite to an empty value and with no replacements") {
  const std::string row = msg('D', be16(2) + value("secret") + value(""));
  std::string out;
  const std::vector<ColumnReplacement> repl = {"", "filled"};
  REQUIRE(appendRewrittenDataRow(parseRow(row), repl, &out).ok());
  CHECK(out == msg('D', be16(2) + value("") + value("filled")));
  std::string same;
  REQUIRE(appendRewrittenDataRow(parseRow(row), {}, &same).ok());
  CHECK(same == row);
}

TEST_CASE("DataRow rewrite into a Buffer equals the string form, and re-parses") {
  const std::string row = msg('D', be16(2) + value("5555555555554444") + value("ok"));
  const std::vector<ColumnReplacement> repl = {"555555******4444"};
  Buffer buf;
  buf.append("Z");
  REQUIRE(appendRewrittenDataRow(parseRow(row), repl, &buf).ok());
  std::string s;
  REQUIRE(appendRewrittenDataRow(parseRow(row), repl, &s).ok());
  CHECK(buf.view() == "Z" + s);
  DataRow again = parseRow(s);
  std::vector<ValueList::Value> v(again.columns.begin(), again.columns.end());
  CHECK(v[0] == "555555******4444");
  CHECK(v[1] == "ok");
}

TEST_CASE("RowDescription rewrite turns chosen columns into text and keeps the rest") {
  const std::string raw = msg('T', be16(3) + field("id", 100, 1, 23, 4, 0xffffffff, 1) +
                                       field("pan", 100, 2, 1043, 0xffff, 24, 1) +
                                       field("amount", 100, 3, 1700, 0xffff, 655366, 1));
  const std::vector<uint16_t> cols = {1};
  absl::StatusOr<std::string> out = rowDescriptionWithTextColumns(raw, cols);
  REQUIRE(out.ok());
  const std::string expected = msg('T', be16(3) + field("id", 100, 1, 23, 4, 0xffffffff, 1) +
                                            field("pan", 100, 2, 25, 0xffff, 0xffffffff, 0) +
                                            field("amount", 100, 3, 1700, 0xffff, 655366, 1));
  CHECK(*out == expected);
  const std::vector<uint16_t> all = {0, 1, 2};
  absl::StatusOr<std::string> every = rowDescriptionWithTextColumns(raw, all);
  REQUIRE(every.ok());
  absl::StatusOr<BackendBody> body = parseBackendBody('T', std::string_view(*every).substr(5));
  REQUIRE(body.ok());
  std::get<RowDescription>(*body).forEachField([](uint16_t, const FieldDescription& f) {
    CHECK(f.type_oid == kTextTypeOid);
    CHECK(f.type_size == -1);
    CHECK(f.type_modifier == -1);
    CHECK(f.format == 0);
    CHECK(f.table_oid == 100);
  });
}

TEST_CASE("RowDescription rewrite rejects bad input") {
  const std::string raw = msg('T', be16(1) + field("a", 0, 0, 23, 4, 0, 0));
  const std::vector<uint16_t> out_of_range = {1};
  CHECK_FALSE(rowDescriptionWithTextColumns(raw, out_of_range).ok());
  const std::vector<uint16_t> first = {0};
  CHECK_FALSE(rowDescriptionWithTextColumns(msg('D', be16(0)), first).ok());
  CHECK_FALSE(rowDescriptionWithTextColumns(raw.substr(0, raw.size() - 1), first).ok());
  CHECK_FALSE(
      rowDescriptionWithTextColumns(msg('T', be16(2) + field("a", 0, 0, 23, 4, 0, 0)), first).ok());
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
