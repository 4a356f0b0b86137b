// Masking through the real sidecar and a real PostgreSQL: text, varchar, bigint and numeric card
// columns in text (psql) and binary (libpq via ctypes) result formats, cvv redaction, look-alike
// values left alone, COPY out in text and CSV format, pg_dump. Card data in other forms and
// paths: sidecar_pg_masking_paths_test.cc; writes that would store masked data where it is read
// unmasked: sidecar_pg_copies_test.cc.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

constexpr char kSelectCards[] =
    "select id, holder, pan, pan_vc, pan_num, pan_dec, cvv, created_ms, phone "
    "from cards where id <= 6 order by id";

// What the job must see for one sample row, column by column (same order as kSelectCards).
std::vector<std::string> expectedRow(const SampleCard& c) {
  return {std::to_string(c.id),
          c.holder,
          pciMasked(c.pan),
          pciMasked(c.pan_vc),
          pciMasked(std::to_string(c.pan_num)),
          pciMasked(c.pan_dec),
          std::string(c.cvv.size(), '*'),
          std::to_string(c.created_ms),
          c.phone};
}

// libpq through ctypes (psycopg2 cannot ask for binary results): runs the query with
// PQexecParams and with PQprepare/PQexecPrepared, both with resultFormat=1, and prints one JSON
// object per result: columns (name, type OID, format) and rows (hex of the raw value bytes).
constexpr char kBinaryScript[] = R"PY(
import ctypes, json, sys
pq = ctypes.CDLL("libpq.so.5")
P, S, I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
def sig(name, res, *args):
    f = getattr(pq, name); f.restype = res; f.argtypes = list(args)
sig("PQconnectdb", P, S); sig("PQstatus", I, P); sig("PQerrorMessage", S, P)
sig("PQexecParams", P, P, S, I, P, P, P, P, I)
sig("PQprepare", P, P, S, S, I, P)
sig("PQexecPrepared", P, P, S, I, P, P, P, I)
sig("PQresultStatus", I, P); sig("PQresultErrorMessage", S, P)
sig("PQntuples", I, P); sig("PQnfields", I, P)
sig("PQftype", ctypes.c_uint, P, I); sig("PQfformat", I, P, I); sig("PQfname", S, P, I)
sig("PQgetisnull", I, P, I, I); sig("PQgetlength", I, P, I, I)
sig("PQgetvalue", ctypes.POINTER(ctypes.c_char), P, I, I)
conn = pq.PQconnectdb(sys.argv[1].encode())
if pq.PQstatus(conn) != 0:
    print(json.dumps({"connect_error": pq.PQerrorMessage(conn).decode()})); sys.exit(1)
def dump(label, res):
    out = {"label": label, "status": pq.PQresultStatus(res),
           "error": (pq.PQresultErrorMessage(res) or b"").decode(), "columns": [], "rows": []}
    n = pq.PQnfields(res)
    for c in range(n):
        out["columns"].append({"name": pq.PQfname(res, c).decode(), "type": pq.PQftype(res, c),
                               "format": pq.PQfformat(res, c)})
    for r in range(pq.PQntuples(res)):
        out["rows"].append([None if pq.PQgetisnull(res, r, c) else
                            ctypes.string_at(pq.PQgetvalue(res, r, c),
                                             pq.PQgetlength(res, r, c)).hex()
                            for c in range(n)])
    print(json.dumps(out))
sql = sys.argv[2].encode()
dump("params", pq.PQexecParams(conn, sql, 0, None, None, None, None, 1))
pq.PQprepare(conn, b"cards_stmt", sql, 0, None)
dump("prepared", pq.PQexecPrepared(conn, b"cards_stmt", 0, None, None, None, 1))
dump("count", pq.PQexecParams(conn, b"select count(*) from cards where id <= 6", 0, None, None,
                              None, None, 1))
)PY";

constexpr int kPgresTuplesOk = 2;

// kBinaryScript's three results for kSelectCards through `sidecar`: params, prepared, count.
std::vector<nlohmann::json> binaryResults(const Sidecar& sidecar) {
  auto r = sidecar.python(kBinaryScript, {kSelectCards});
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  std::vector<nlohmann::json> results;
  for (const auto& l : lines) results.push_back(nlohmann::json::parse(l));
  return results;
}

}  // namespace

TEST_CASE(
    "psql text results: every card column type is masked, cvv redacted, "
    "look-alikes untouched") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(std::string(kSelectCards) + ";\n");
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == sampleCards().size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> got = absl::StrSplit(lines[i], '|');
    CHECK(got == expectedRow(sampleCards()[i]));
  }
  // The only Luhn-valid digit runs left are the look-alike timestamps.
  for (const auto& digits : luhnRuns(r.out)) {
    bool timestamp = false;
    for (const auto& c : sampleCards()) timestamp |= digits == std::to_string(c.created_ms);
    CHECK(timestamp);
  }
  CHECK(sampleSecretsIn(r.out).empty());
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE(
    "binary result format: int8/numeric card columns arrive as masked text, "
    "extended and prepared") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto results = binaryResults(sidecar);
  for (size_t l = 0; l < 2; ++l) {
    const auto& res = results[l];
    INFO(res["label"].get<std::string>() << ": " << res["error"].get<std::string>());
    REQUIRE(res["status"] == kPgresTuplesOk);
    const auto& cols = res["columns"];
    REQUIRE(cols.size() == 9);
    // Table columns that can hold a card number and that a client would decode as numbers are
    // described as text and sent as text, so a masked value cannot break the client's decoder.
    for (int c : {4, 5, 7}) {
      INFO("column " << cols[c]["name"]);
      CHECK(cols[c]["type"] == 25);
      CHECK(cols[c]["format"] == 0);
    }
    // Text-like columns keep their type and the binary format the client asked for.
    CHECK(cols[0]["type"] == 23);
    CHECK(cols[0]["format"] == 1);
    CHECK(cols[2]["type"] == 25);
    CHECK(cols[2]["format"] == 1);
    CHECK(cols[3]["type"] == 1043);
    CHECK(cols[3]["format"] == 1);
    REQUIRE(res["rows"].size() == sampleCards().size());
    for (size_t i = 0; i < sampleCards().size(); ++i) {
      auto want = expectedRow(sampleCards()[i]);
      const auto& row = res["rows"][i];
      // id: int4 in binary, big-endian.
      char id_bytes[4] = {0, 0, 0, static_cast<char>(sampleCards()[i].id)};
      CHECK(row[0] == absl::BytesToHexString(std::string(id_bytes, 4)));
      for (size_t c = 1; c < want.size(); ++c) {
        INFO("row " << i << " column " << cols[c]["name"] << " expected " << want[c]);
        CHECK(row[c] == absl::BytesToHexString(want[c]));
      }
    }
  }
  // A computed int8 (no source table) keeps its type and binary format.
  const auto& count = results[2];
  REQUIRE(count["status"] == kPgresTuplesOk);
  CHECK(count["columns"][0]["type"] == 20);
  CHECK(count["columns"][0]["format"] == 1);
  CHECK(count["rows"][0][0] == "0000000000000006");
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// An application's bigint ids and timestamps must stay numbers: masking.keepNumberTypes names
// them. A card number that turns up in such a column is still masked, with zeros.
TEST_CASE("masking.keepNumberTypes: named bigint columns keep their type, card numbers zeroed") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.keep_number_types = "[created_ms, \"*_kept\"]";
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto results = binaryResults(sidecar);
  const auto& res = results[0];
  REQUIRE(res["status"] == kPgresTuplesOk);
  const auto& cols = res["columns"];
  REQUIRE(cols.size() == 9);
  CHECK(cols[7]["type"] == 20);  // created_ms: int8, binary
  CHECK(cols[7]["format"] == 1);
  CHECK(cols[4]["type"] == 25);  // pan_num: not named, text
  CHECK(cols[5]["type"] == 25);  // pan_dec numeric(19,0): not named, text
  REQUIRE(res["rows"].size() == sampleCards().size());
  for (size_t i = 0; i < sampleCards().size(); ++i) {
    const auto& c = sampleCards()[i];
    uint64_t v = static_cast<uint64_t>(c.created_ms);
    std::string be;
    for (int b = 7; b >= 0; --b) be += static_cast<char>((v >> (8 * b)) & 0xff);
    CHECK(res["rows"][i][7] == absl::BytesToHexString(be));
    CHECK(res["rows"][i][4] == absl::BytesToHexString(pciMasked(std::to_string(c.pan_num))));
  }

  // A card number read into a kept column: int8 with zeros for the hidden digits.
  auto kept =
      sidecar.psql("select pan_num as pan_kept, pg_typeof(pan_num) from cards where id = 1;\n");
  INFO("stderr: " << kept.err);
  REQUIRE(kept.exit_code == 0);
  std::string digits = std::to_string(sampleCards()[0].pan_num);
  std::string zeroed = pciMasked(digits);
  for (char& ch : zeroed) ch = ch == '*' ? '0' : ch;
  CHECK(kept.out == zeroed + "|bigint\n");
  CHECK(sampleSecretsIn(results[0].dump() + kept.out).empty());
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("look-alikes: millisecond timestamps and phone numbers pass unmasked") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // The timestamps are Luhn-valid 13-digit numbers; the phone numbers have 11-12 digits.
  auto r = sidecar.psql(
      "select created_ms, phone, created_ms::text || ' ' || phone from cards where id <= 6 "
      "order by id;\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == sampleCards().size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& c = sampleCards()[i];
    REQUIRE(luhnOk(std::to_string(c.created_ms)));
    std::string ms = std::to_string(c.created_ms);
    CHECK(lines[i] == ms + "|" + c.phone + "|" + ms + " " + c.phone);
  }
}

TEST_CASE("a card number inside free text and in computed columns is masked") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select 'paid with ' || pan_vc || ' today', sum(pan_num) from cards where id = 1 "
      "group by pan_vc;\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // A computed numeric keeps its type: the hidden digits become zeros.
  CHECK(r.out == "paid with 411111******1111 today|4111110000001111\n");
}

// The sample rows as COPY writes them: `delimiter` between fields, masked fields (pan, pan_vc,
// pan_num, pan_dec, cvv: the sidecar writes them again) between `quote`s.
std::string copyRows(char delimiter, const std::string& quote = "") {
  std::string out;
  for (const auto& c : sampleCards()) {
    auto fields = expectedRow(c);
    for (size_t i = 0; i < fields.size(); ++i) {
      const bool masked = i >= 2 && i <= 6;
      out += (i > 0 ? std::string(1, delimiter) : "") +
             (masked ? quote + fields[i] + quote : fields[i]);
    }
    out += "\n";
  }
  return out;
}

TEST_CASE("COPY out masks each field by the statement's columns, in text and CSV format") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const std::string query = std::string("(") + kSelectCards + ") to stdout";
  struct Case {
    std::string copy;
    std::string want;
  };
  const Case cases[] = {
      {"copy " + query + ";", copyRows('\t')},
      {"\\copy " + query, copyRows('\t')},
      {"copy " + query + " with (format csv, header);",
       "id,holder,pan,pan_vc,pan_num,pan_dec,cvv,created_ms,phone\n" + copyRows(',', "\"")},
      {"copy " + query + " with (format csv, delimiter ';', quote '''', escape '\\');",
       copyRows(';', "'")},
      {"copy " + query + " with (delimiter '|', null 'NULL');", copyRows('|')},
  };
  for (const auto& c : cases) {
    INFO(c.copy);
    auto r = sidecar.psql(c.copy + "\n");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == c.want);
    CHECK(sampleSecretsIn(r.out).empty());
  }
  // A table with a column list: the cvv rule applies to the cvv column.
  auto r = sidecar.psql("copy cards (id, cvv) to stdout;\n");
  REQUIRE(r.exit_code == 0);
  for (const auto& c : sampleCards()) {
    CHECK_THAT(r.out, ContainsSubstring(std::to_string(c.id) + "\t" +
                                        std::string(c.cvv.size(), '*') + "\n"));
    CHECK_THAT(r.out, !ContainsSubstring("\t" + c.cvv + "\n"));
  }
  // The COPY's statement event counts its rows and masked values.
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/action/statement") == "copy cards (id, cvv) to stdout" &&
           jnum(e, "/result/rows") >= 6 && jnum(e, "/result/valuesMasked") >= 6;
  }));
}

TEST_CASE("COPY out that cannot be masked is refused and the session stays usable") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // Without a column list the cvv rule cannot know which field is cvv; binary rows cannot be
  // read without their types.
  auto r = sidecar.psql(
      "copy cards to stdout;\n"
      "copy (select holder, pan from cards) to stdout with (format binary);\n"
      "select 'still usable';\n");
  CHECK_THAT(r.err, ContainsSubstring("42501"));
  CHECK_THAT(r.err, ContainsSubstring("masking:copy-out"));
  CHECK_THAT(r.err, ContainsSubstring("COPY t (a, b) TO STDOUT"));
  CHECK_THAT(r.err, ContainsSubstring("binary COPY cannot be masked"));
  CHECK(r.out == "still usable\n");
  CHECK(sampleSecretsIn(r.out + r.err).empty());

  // In SJIS, BIG5, GBK... a character can hold a backslash or delimiter byte: the fields of a
  // row could not be told apart. (The session's client_encoding cannot be one of them at all.)
  r = sidecar.psql(
      "copy cards (id, cvv) to stdout (encoding 'BIG5');\n"
      "copy cards (id, cvv) to stdout (encoding 'S.JIS');\n"
      "select 'still usable';\n");
  CHECK_THAT(r.err, ContainsSubstring("rows in encoding BIG5 cannot be read back"));
  CHECK_THAT(r.err, ContainsSubstring("rows in encoding S.JIS cannot be read back"));
  CHECK(r.out == "still usable\n");

  // Detector rules alone cannot see a bigint card number in binary either.
  SidecarOptions o;
  o.policy.column_rules = false;
  Sidecar detectors_only(pg, o);
  REQUIRE(detectors_only.ready());
  r = detectors_only.psql(
      "copy (select pan_num from cards) to stdout (format binary);\nselect 'still usable';\n");
  CHECK_THAT(r.err, ContainsSubstring("binary COPY cannot be masked"));
  CHECK(r.out == "still usable\n");
}

TEST_CASE("pg_dump through the sidecar with a read grant dumps masked card data") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // pg_dump sets its settings with set_config(), takes ACCESS SHARE locks and reads every
  // table with COPY (columns listed): all of it is what a read grant may do.
  auto r = run({"/usr/lib/postgresql/15/bin/pg_dump", "--no-password", "-d", sidecar.conninfo()},
               "", std::chrono::seconds(120));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("CREATE TABLE public.cards"));
  CHECK_THAT(r.out, ContainsSubstring("COPY public.cards (id, holder, pan, pan_vc, pan_num, "
                                      "pan_dec, cvv, created_ms, phone) FROM stdin;\n"));
  for (const auto& c : sampleCards()) {
    std::string row;
    for (const auto& f : expectedRow(c)) row += (row.empty() ? "" : "\t") + f;
    CHECK_THAT(r.out, ContainsSubstring(row));
  }
  CHECK(sampleSecretsIn(r.out + r.err).empty());
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("COPY out under detector-only masking streams masked card numbers") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.column_rules = false;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  const std::string query = "(select holder, pan from cards where id <= 6 order by id) to stdout";
  for (const std::string& copy : {"copy " + query + ";", "\\copy " + query}) {
    INFO(copy);
    auto r = sidecar.psql(copy + "\n");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::string want;
    for (const auto& c : sampleCards()) want += c.holder + "\t" + pciMasked(c.pan) + "\n";
    CHECK(r.out == want);
  }
}
