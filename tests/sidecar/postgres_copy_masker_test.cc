// COPY TO STDOUT masking: fields read back from the text and CSV row formats, masked by the
// statement's columns, written again; rows split across payloads; headers; NULLs.
#include "sidecar/postgres/copy_masker.h"

#include <catch2/catch_test_macros.hpp>

#include "policy/mask/masker.h"
#include "policy/sql/analyzer.h"
#include "sidecar/postgres/text_masking.h"
#include "tests/sidecar/postgres_test_masker.h"

using namespace tollgate::sidecar::postgres;
using tollgate::policy::CopyOutFormat;
using tollgate::policy::Masker;
using tollgate::policy::SqlAnalyzer;

namespace {

std::shared_ptr<const Masker> testMasker(bool column_rules = true) {
  return testing::panAndCvvMasker(column_rules);
}

// Runs `payloads` (CopyData bodies) of `copy_sql` through a masker and returns what the client
// gets: each payload as sent (the original when maskData() kept it), then finish().
struct Outcome {
  std::string text;
  uint64_t rows = 0;
  uint64_t masked = 0;
  std::string rule;
};

Outcome maskCopy(const std::string& copy_sql, const std::vector<std::string>& payloads,
                 bool column_rules = true) {
  auto masker = testMasker(column_rules);
  auto facts = SqlAnalyzer::analyzeUncached(copy_sql);
  REQUIRE(facts->statements.size() == 1);
  const auto& st = facts->statements[0];
  REQUIRE(st.copy_out);
  CopyOutMasker m(masker.get(), *st.copy_out, st.lineage.known ? &st.lineage : nullptr);
  Outcome o;
  std::string out;
  for (const auto& p : payloads) o.text += m.maskData(p, &out) ? out : p;
  o.text += m.finish();
  o.rows = m.rows();
  o.masked = m.valuesMasked();
  o.rule = m.ruleHit();
  return o;
}

}  // namespace

TEST_CASE("text rows: the cvv column and card numbers are masked, other fields kept") {
  auto o = maskCopy("COPY cards (id, pan, cvv, note) TO STDOUT",
                    {"1\t4111 1111 1111 1111\t123\tpaid\n", "2\t\\N\t456\t\\N\n",
                     "3\tx\t\\N\tcard 5555555555554444 kept?\n"});
  CHECK(o.text ==
        "1\t4111 11** **** 1111\t***\tpaid\n"
        "2\t\\N\t***\t\\N\n"
        "3\tx\t\\N\tcard 555555******4444 kept?\n");
  CHECK(o.rows == 3);
  CHECK(o.masked == 4);
  CHECK(o.rule == "pan");
}

TEST_CASE("a payload with nothing to mask is forwarded as it is") {
  auto masker = testMasker();
  auto facts = SqlAnalyzer::analyzeUncached("COPY cards (id, holder) TO STDOUT");
  const auto& st = facts->statements[0];
  CopyOutMasker m(masker.get(), *st.copy_out, &st.lineage);
  std::string out;
  CHECK_FALSE(m.maskData("1\tAlice\n", &out));
  CHECK(m.maskData("2\t4111111111111111\n", &out));
  CHECK(out == "2\t411111******1111\n");
  CHECK(m.rows() == 2);
}

TEST_CASE("text escapes are read and written back; a masked value with a delimiter is escaped") {
  // cvv "1\t2" (an escaped tab inside the value) stays one field; the note's escaped
  // backslash and newline survive.
  auto o =
      maskCopy("COPY cards (cvv, note) TO STDOUT", {"1\\t2\ta\\\\b\\nc\n", "\\x34\\0611\tx\n"});
  CHECK(o.text == "*\\t*\ta\\\\b\\nc\n***\tx\n");
  // A card number written with octal and hex escapes is still a card number.
  o = maskCopy("COPY cards (id, pan) TO STDOUT", {"1\t\\x34111111111111\\06111\n"});
  CHECK(o.text == "1\t411111******1111\n");
}

TEST_CASE("a row split across payloads is held until it is complete") {
  auto o = maskCopy("COPY cards (id, cvv) TO STDOUT", {"1\t12", "3\n2\t4", "56\n", "3\t789\n"});
  CHECK(o.text == "1\t***\n2\t***\n3\t***\n");
  CHECK(o.rows == 3);
  // An escaped newline at a payload boundary does not end the row.
  o = maskCopy("COPY cards (cvv, id) TO STDOUT", {"12\\", "n3\t1\n"});
  CHECK(o.text == "**\\n*\t1\n");
  // A row the server never finished is masked whole, never forwarded unread.
  o = maskCopy("COPY cards (id, holder) TO STDOUT", {"1\tAlice\n2\tBob"});
  CHECK(o.text == "1\tAlice\n*\\t***");
}

TEST_CASE("CSV rows: quotes, doubled quotes, custom quote and escape, header") {
  auto o = maskCopy(
      "COPY cards (id, cvv, note) TO STDOUT (FORMAT csv, HEADER)",
      {"id,cvv,note\n", "1,123,\"a, \"\"quoted\"\"\nline\"\n", "2,\"4,5\",\n", "3,,\"\"\n"});
  CHECK(o.text ==
        "id,cvv,note\n"
        "1,\"***\",\"a, \"\"quoted\"\"\nline\"\n"
        "2,\"***\",\n"
        "3,,\"\"\n");
  CHECK(o.rows == 3);
  o = maskCopy(
      "COPY cards (note, cvv) TO STDOUT (FORMAT csv, DELIMITER ';', QUOTE '''', "
      "ESCAPE '\\')",
      {"'it\\'s; 4111111111111111';'9\\'9'\n"});
  CHECK(o.text == "'it\\'s; 411111******1111';'***'\n");
  // A quoted newline at a payload boundary does not end the row.
  o = maskCopy("COPY cards (note, cvv) TO STDOUT (FORMAT csv)", {"\"a\n", "b\",12\n"});
  CHECK(o.text == "\"a\nb\",\"**\"\n");
}

TEST_CASE("COPY of a query: renamed and star columns follow the lineage") {
  auto o = maskCopy("COPY (SELECT id, cvv AS c FROM cards) TO STDOUT", {"1\t123\n"});
  CHECK(o.text == "1\t***\n");
  // Columns a `*` expanded to have no name in COPY: masked whole under the column rules.
  o = maskCopy("COPY (SELECT id, * FROM cards) TO STDOUT", {"1\t1\tAlice\n"});
  CHECK(o.text == "1\t*\t*****\n");
  // Field names inside JSON meet the column rules.
  o = maskCopy("COPY (SELECT id, doc FROM cards) TO STDOUT",
               {"1\t{\"cvv\": \"123\", \"pan\": \"4111111111111111\"}\n"});
  CHECK(o.text == "1\t{\"cvv\": \"***\", \"pan\": \"411111******1111\"}\n");
}

TEST_CASE("card numbers in float8, numeric, money and bytea renderings are masked") {
  auto o = maskCopy("COPY cards (a, b, c, d, e) TO STDOUT",
                    {"4.111111111111111e+15\t4111111111111111.00\t$4,111,111,111,111,111.00\t"
                     "\\\\x34313131313131313131313131313131\t{4.111111111111111e+15}\n"},
                    /*column_rules=*/false);
  CHECK(o.text ==
        "4.111110000001111e+15\t411111******1111.00\t411111******1111\t"
        "\\\\x3431313131312a2a2a2a2a2a31313131\t{4.111110000001111e+15}\n");
  CHECK(o.masked == 5);
  // A record with a card number in clear and another in a bytea inside it: both.
  o = maskCopy("COPY t (a) TO STDOUT",
               {"(4111111111111111,\"\\\\x35353535353535353535353534343434\")\n"}, false);
  CHECK(o.text == "(411111******1111,\"\\\\x3535353535352a2a2a2a2a2a34343434\")\n");
  // Look-alikes stay: a timestamp, a phone number, an amount.
  o = maskCopy("COPY t (a, b, c) TO STDOUT",
               {"2024-01-15 10:30:00\t+1 (415) 555-0123\t$1,234,567.00\n"}, false);
  CHECK(o.masked == 0);
}

TEST_CASE("without column rules a COPY of a whole table is scanned by the detectors") {
  auto masker = testMasker(false);
  auto facts = SqlAnalyzer::analyzeUncached("COPY cards TO STDOUT");
  const auto& st = facts->statements[0];
  REQUIRE_FALSE(st.lineage.known);
  CopyOutMasker m(masker.get(), *st.copy_out, nullptr);
  std::string out;
  REQUIRE(m.maskData("1\t4111111111111111\t123\n", &out));
  CHECK(out == "1\t411111******1111\t123\n");
}

TEST_CASE("money detection needs digits grouped by threes") {
  CHECK(looksLikeMoney("$4,111,111,111,111,111.00"));
  CHECK(looksLikeMoney("4.111.111.111.111.111,00 EUR"));
  CHECK(looksLikeMoney("-$1,234,567"));
  CHECK_FALSE(looksLikeMoney("4111111111111111"));
  CHECK_FALSE(looksLikeMoney("2024-01-15 10:30:00"));
  CHECK_FALSE(looksLikeMoney("+44 20 7946 1004"));
  CHECK_FALSE(looksLikeMoney("call me at 4,111,111 please"));
  CHECK_FALSE(looksLikeMoney(""));
}
