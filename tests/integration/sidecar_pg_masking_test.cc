// Masking through the real sidecar and a real PostgreSQL: text, varchar, bigint and numeric card
// columns in text (psql) and binary (libpq via ctypes) result formats, cvv redaction, look-alike
// values left alone, COPY out in text and CSV format, pg_dump.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

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

std::string hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : s) {
    out += kDigits[ch >> 4];
    out += kDigits[ch & 15];
  }
  return out;
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
      CHECK(row[0] == hex(std::string(id_bytes, 4)));
      for (size_t c = 1; c < want.size(); ++c) {
        INFO("row " << i << " column " << cols[c]["name"] << " expected " << want[c]);
        CHECK(row[c] == hex(want[c]));
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
    CHECK(res["rows"][i][7] == hex(be));
    CHECK(res["rows"][i][4] == hex(pciMasked(std::to_string(c.pan_num))));
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

TEST_CASE("a masked column renamed, computed, or read through a row is still masked") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // Each statement returns one value made from card 1's cvv: it must come back redacted whole
  // (the redact action keeps only spaces).
  const char* kEvasions[] = {
      "select cvv as c from cards where id = 1",
      "select 'x' || cvv from cards where id = 1",
      "select upper(cvv) as u from cards where id = 1",
      "with q as (select cvv as z from cards where id = 1) select z from q",
      "with q(a) as (select cvv from cards where id = 1) select a from q",
      "select k from (select cvv from cards where id = 1) s(k)",
      "select * from (select cvv as k from cards where id = 1) s",
      "select (select cvv from cards where id = 1) as k",
      "select k from cards c(i, h, p, pv, pn, pd, k) where i = 1",
      "select c from cards c where id = 1",
      "select row(c.*) from cards c where id = 1",
      "select u from cards, unnest(array[cvv]) u where id = 1",
      "select holder from cards where false union all select cvv from cards where id = 1",
      // A value taken out of a row's JSON, and the columns of functions in FROM.
      "select to_jsonb(c)->'cvv' from cards c where id = 1",
      "select jsonb_path_query_array(to_jsonb(c), '$.cvv') from cards c where id = 1",
      "select j from cards c, jsonb_path_query(to_jsonb(c), '$.cvv') j where id = 1",
      "select value from cards c, jsonb_each_text(to_jsonb(c)) where id = 1 and key = 'cvv'",
      "select e.value from cards c, jsonb_each_text(to_jsonb(c)) e where id = 1 and key = 'cvv'",
      "select value from cards c, jsonb_each_text(to_jsonb(c)) e(k) where id = 1 and k = 'cvv'",
      "select unnest from cards, unnest(array[cvv]) where id = 1",
      "select x from cards, xmltable('/r' passing xmlelement(name r, cvv) columns x text path '.')"
      " where id = 1",
      // Columns named by the server: VALUES items, unaliased expressions, (expr).*.
      "select column1 from cards, lateral (values (cvv)) v where id = 1",
      "select f1 from (select (row(cvv)).* from cards where id = 1) s",
      "with q as (select upper(cvv) from cards where id = 1) select upper from q",
      "select (r).* from (select row(cvv) r from cards where id = 1) s",
      "select a.*, lower(cvv), a.* from (select) a, cards where id = 1",
      "select j.f from (cards join (select 1 as z) z on true) as j(a, b, c, d, e, f, g, h, i, k)"
      " where j.a = 1",
      "with recursive w(x) as (select cvv from cards where id = 1 union all select x from w"
      " where false) search depth first by x set o select o from w",
  };
  for (const char* sql : kEvasions) {
    INFO(sql);
    auto r = sidecar.psql(std::string(sql) + ";\n");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::string value = r.out.substr(0, r.out.find('\n'));
    CHECK(!value.empty());
    CHECK(value.find_first_not_of("* ") == std::string::npos);
  }
  // A cursor and a prepared statement return what they were declared with.
  auto r = sidecar.psql(
      "begin;\n"
      "declare cur cursor for select cvv as q, id from cards where id = 1;\n"
      "fetch 1 from cur;\n"
      "commit;\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring(std::string(sampleCards()[0].cvv.size(), '*') + "|1\n"));
  // cursor_to_xml reads the cursor's rows itself: its XML is masked whole.
  r = sidecar.psql(
      "begin;\n"
      "declare x cursor for select cvv from cards where id = 1;\n"
      "select cursor_to_xml('x', 10, true, false, '');\n"
      "commit;\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, !ContainsSubstring("<cvv>"));
  CHECK_THAT(r.out, !ContainsSubstring(sampleCards()[0].cvv));
  // JSON keeps its shape: the cvv field is redacted, card numbers masked, the rest readable.
  r = sidecar.psql("select to_jsonb(c) - 'created_ms' - 'phone' from cards c where id = 1;\n");
  INFO(r.err);
  const SampleCard& card = sampleCards()[0];
  auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["cvv"] == std::string(card.cvv.size(), '*'));
  CHECK(doc["pan"] == pciMasked(card.pan));
  CHECK(doc["holder"] == card.holder);
  // Reading a masked column in WHERE is not returning it; unrelated columns stay readable.
  r = sidecar.psql("select holder, id from cards where id = 1 and cvv is not null;\n");
  CHECK(r.out == sampleCards()[0].holder + "|1\n");
}

TEST_CASE("a card number cast to float8, money, bytea or an exponent JSON number is masked") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.column_rules = false;  // the detector alone must find them
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  // Computed values keep their type (hidden digits become zeros); table columns of these types
  // are described as text and masked like text. Card 1 is 4111 1111 1111 1111.
  struct Case {
    const char* sql;
    const char* want;
  };
  const Case kCases[] = {
      {"select pan_num::float8 from cards where id = 1", "4.111110000001111e+15"},
      {"select pan_num::money from cards where id = 1", "$4,111,110,000,001,111.00"},
      {"select (-pan_num)::numeric::money from cards where id = 1", "-$4,111,110,000,001,111.00"},
      {"select pan_num::numeric(20,2) from cards where id = 1", "4111110000001111.00"},
      {"select pan::bytea from cards where id = 1", "\\x343131312031312a2a202a2a2a2a2031313131"},
      {"select ('{\"n\":' || (pan_num::float8)::text || '}')::json from cards where id = 1",
       "{\"n\":\"411111******1111\"}"},
      {"select to_json(pan_num::float8) from cards where id = 1", "\"411111******1111\""},
      {"select array[pan_num::float8] from cards where id = 1", "{4.111110000001111e+15}"},
      {"select array[pan_num::numeric(30,2)] from cards where id = 1", "{4111110000001111.00}"},
      {"select pan_num::numeric(30,2)::text from cards where id = 1", "411111******1111.00"},
      {"select array[pan_num::numeric::money] from cards where id = 1",
       "{\"$4,111,110,000,001,111.00\"}"},
  };
  std::string sql = "set lc_monetary = 'C';\n";
  for (const auto& c : kCases) sql += std::string(c.sql) + ";\n";
  auto r = sidecar.psql(sql);
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == std::size(kCases) + 1);  // + SET's tag
  for (size_t i = 0; i < std::size(kCases); ++i) {
    INFO(kCases[i].sql);
    CHECK(lines[i + 1] == kCases[i].want);
  }
  CHECK(luhnRuns(r.out, /*standalone=*/true).empty());
  CHECK(sampleSecretsIn(r.out).empty());
  // The masked computed float8 still decodes as a float8 in a driver.
  auto py = sidecar.python(R"PY(
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("select pan_num::float8 as f from cards where id = 1")
print(cur.fetchone()[0])
cur.execute("select array[pan_num, 42] as a from cards where id = 1")
print(cur.fetchone()[0])
)PY");
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out == "4111110000001111.0\n[4111110000001111, 42]\n");
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// Regression (red-team round 5): binary results of ranges, geometric types and xid8 carried a
// card number as raw int8 / float8 bytes.
TEST_CASE("binary ranges, points and xid8 holding a card number are masked") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.column_rules = false;  // the detector alone must find them
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto py = sidecar.python(R"PY(
import struct, sys, psycopg
conn = psycopg.connect(sys.argv[1])
cur = conn.cursor(binary=True)
cur.execute("select int8range(1, pan_num), point(pan_num, 0), "
            "pan_num::text::xid8, array[int8range(pan_num, null)] from cards where id = 1")
rng, pt, xid, arr = cur.fetchone()
def num(v):
    return v if isinstance(v, int) else struct.unpack("!Q", bytes(v))[0]
print(rng.lower, rng.upper, struct.unpack("!dd", bytes(pt))[0], num(xid), arr[0].lower)
)PY");
  INFO("python: " << py.out << py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out ==
        "1 4111110000001111 4111110000001111.0 4111110000001111 "
        "4111110000001111\n");
}

// Regression: pg_stats showed the cvv column's values (histogram_bounds) to a read grant.
TEST_CASE("planner statistics do not show the values of a masked column") {
  auto& pg = sharedPg();
  pg.sqlOrThrow("analyze cards", "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select attname, most_common_vals, histogram_bounds from pg_stats "
      "where tablename = 'cards' and attname = 'cvv';\n"
      "select to_json(s) from pg_stats s where tablename = 'cards' and attname = 'cvv';\n"
      "select * from pg_stats where tablename = 'cards' and attname = 'cvv';\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], ContainsSubstring("cvv|"));
  CHECK_THAT(lines[1], ContainsSubstring("\"histogram_bounds\":\"*"));
  for (const auto& c : sampleCards()) {
    // As an array element ({123,456}) or a JSON string (["123","456"]).
    for (const std::string& form :
         {"{" + c.cvv + ",", "," + c.cvv + ",", "," + c.cvv + "}", "\"" + c.cvv + "\""}) {
      CHECK_THAT(r.out, !ContainsSubstring(form));
    }
  }
  // Round 6: advisory lock keys taken from a masked column show in pg_locks.
  const std::string cvv = sampleCards()[0].cvv;
  r = sidecar.psql(
      "begin;\n"
      "select pg_advisory_xact_lock(cvv::int, 0) from cards where id = 1;\n"
      "select pg_advisory_xact_lock(cvv::bigint) from cards where id = 1;\n"
      "select classid, objid from pg_locks where locktype = 'advisory' order by objsubid;\n"
      "select l.objid from pg_locks l where locktype = 'advisory';\n"
      "commit;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(cvv) == std::string::npos);
  CHECK_THAT(r.out, ContainsSubstring("***"));
}

TEST_CASE("errors of a statement that reads a masked column do not quote its data") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function shout(v text) returns int language plpgsql as $$ "
      "begin raise exception 'value %', v; end $$",
      "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const std::string cvv = sampleCards()[0].cvv;
  // Each makes PostgreSQL put card 1's cvv into the error text.
  const char* kLeaky[] = {
      "select (cvv || 'x')::int from cards where id = 1",
      "select cvv::regclass from cards where id = 1",
      "select current_setting(cvv) from cards where id = 1",
      "select ('{' || cvv)::json from cards where id = 1",
      "select shout(cvv) from cards where id = 1",
      "select 1 from cards c where id = 1 and (c::text)::int = 0",
      "select k::int from (select 'x' || cvv as k from cards where id = 1) s",
      // Numbers are written unquoted.
      "select make_date(cvv::int, 13, 1) from cards where id = 1",
      "select set_bit('\\x00'::bytea, cvv::int, 1) from cards where id = 1",
      // A WITH HOLD cursor's query runs at COMMIT.
      "begin; declare h cursor with hold for select (cvv || 'x')::int from cards where id = 1;"
      " commit",
      // Round 6: ... or at the end of the implicit transaction of a multi-statement query.
      "declare h cursor with hold for select (cvv || 'x')::int from cards where id = 1; "
      "select 1",
  };
  for (const char* sql : kLeaky) {
    INFO(sql);
    auto r = sidecar.psql(std::string(sql) + ";\n");
    INFO(r.err);
    CHECK_THAT(r.err, ContainsSubstring("ERROR"));
    CHECK(r.err.find(cvv) == std::string::npos);
  }
  // ... or at the Sync that ends an extended-protocol implicit transaction.
  auto raw = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
sql = "declare h cursor with hold for select (cvv || 'x')::int from cards where id = 1"
s.sendall(msg(b"P", z("") + z(sql) + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
while True:
    t, body = read_message()
    if t == b"E": print(body.decode(errors="replace"))
    if t == b"Z": break
)PY");
  INFO("raw: " << raw.out << raw.err);
  REQUIRE(raw.exit_code == 0);
  CHECK_THAT(raw.out, ContainsSubstring("22P02"));
  CHECK(raw.out.find(cvv) == std::string::npos);
  // Errors of statements that read no masked column keep their values.
  auto r = sidecar.psql("select holder::int from cards where id = 1;\n");
  CHECK_THAT(r.err, ContainsSubstring("\"" + sampleCards()[0].holder + "\""));
  r = sidecar.psql("select 'abc'::int;\n");
  CHECK_THAT(r.err, ContainsSubstring("invalid input syntax for type integer: \"abc\""));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// Red-team round 5: ways a card number or cvv reached the job or the events file in clear.
TEST_CASE("bytea text forms, RAISE fields, reported settings and quoted names stay masked") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function raise_fields(v text, code text default 'P0001') returns int "
      "language plpgsql as $$ begin raise exception 'x' using errcode = code, column = v, "
      "table = v, constraint = v, datatype = v, schema = v, hint = v; end $$",
      "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const SampleCard& card = sampleCards()[0];
  auto hex = [](const std::string& s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) out += {kHex[c >> 4], kHex[c & 0xf]};
    return out;
  };
  // bytea hex inside text and JSON, and a card number glued to an escape-format octal escape.
  auto r = sidecar.psql(
      "select row_to_json(t) from (select pan_vc::bytea as raw from cards where id = 1) t;\n"
      "select pan_vc::bytea::text from cards where id = 1;\n"
      "set bytea_output = 'escape';\n"
      "select (E'\\\\012' || pan_vc)::bytea from cards where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(hex(card.pan_vc)) == std::string::npos);
  CHECK(r.out.find(card.pan_vc) == std::string::npos);
  CHECK_THAT(r.out, ContainsSubstring("\\012411111******1111"));
  // A setting the server reports back (ParameterStatus) may not take a column's value.
  r = sidecar.psql(
      "select set_config('application_name', pan_vc, false) from cards where id = 1;\n"
      "select set_config('application_name', 'nightly', false);\n");
  CHECK_THAT(r.err, ContainsSubstring("42501"));
  CHECK(r.out == "nightly\n");
  // Every field a RAISE sets is withheld when it may hold a masked column's data.
  auto py = sidecar.python(R"PY(
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
cur = conn.cursor()
# Round 6: with a SQLSTATE of its choosing (22000), not only the default P0001.
for col in ("cvv", "pan_vc", "cvv, '22000'"):
    try:
        cur.execute("select raise_fields(" + col + ") from cards where id = 1")
    except psycopg2.Error as e:
        d = e.diag
        print(col, d.column_name, d.table_name, d.constraint_name, d.datatype_name,
              d.schema_name, d.message_hint)
)PY");
  INFO("python: " << py.out << py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out.find(" " + card.cvv) == std::string::npos);
  CHECK(py.out.find(card.pan_vc) == std::string::npos);
  CHECK_THAT(py.out, ContainsSubstring("withheld by tollgate"));
  // Quoted identifiers go into the statement's normalised text and objects.
  r = sidecar.psql(
      "select 1 as \"4111111111111111\";\n"
      "begin; savepoint \"5555555555554444\"; rollback;\n");
  CHECK(r.exit_code == 0);
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}
