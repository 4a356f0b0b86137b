// Masking through the real sidecar and a real PostgreSQL: text, varchar, bigint and numeric card
// columns in text (psql) and binary (libpq via ctypes) result formats, cvv redaction, look-alike
// values left alone, COPY out in text and CSV format, pg_dump. Card data in other forms and
// paths: sidecar_pg_masking_paths_test.cc.
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

// How often `needle` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

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

TEST_CASE("a write storing masked data where it is read unmasked is refused, session usable") {
  auto& pg = sharedPg();
  // A table, a view renaming cvv and a function returning it, all there before the login: the
  // session follows the view and the function.
  pg.sqlOrThrow(
      "create table if not exists card_notes (id int primary key, note text, cvv text);"
      "alter table card_notes owner to app;"
      "create or replace view card_secrets as select id, cvv as secret from cards;"
      "alter view card_secrets owner to app;"
      // An updatable view whose cvv column is the table's note.
      "create or replace view card_notes_v as select id, note as cvv from card_notes;"
      "alter view card_notes_v owner to app;"
      "create or replace function card_code(i int) returns text language sql stable "
      "as $$ select cvv from cards where id = i $$;"
      // Functions that copy it themselves, and one that calls such a function.
      "create or replace function stash_codes() returns void language sql "
      "as $$ update card_notes n set note = c.cvv from cards c where c.id = n.id $$;"
      "create or replace function stash_more() returns void language plpgsql as $$ begin "
      "insert into card_notes (id, note) select id + 100, cvv from cards; end $$;"
      "create or replace function stash_all() returns int language sql "
      "as $$ select stash_codes(); select 1 $$;"
      // A logging function: it stores what it is given.
      "create or replace function log_note(m text) returns void language sql "
      "as $$ update card_notes set note = m where id = 1 $$;"
      "truncate card_notes; insert into card_notes select id, 'n', null from cards;",
      kPgAppDatabase);
  SidecarOptions o;
  o.subject = kOpsSubject;  // a write grant
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "update card_notes n set note = c.cvv from cards c where c.id = n.id;\n"
      "update card_notes n set note = s.secret from card_secrets s where s.id = n.id;\n"
      "update card_notes set note = card_code(id) where id = 1;\n"
      "insert into card_notes select id, holder, cvv from cards on conflict do nothing;\n"
      "select stash_codes();\n"
      "select stash_more();\n"
      "select stash_all();\n"
      "update card_notes_v v set cvv = c.cvv from cards c where c.id = v.id;\n"
      "select log_note(cvv) from cards where id = 1;\n"
      "select 1 from cards where id = 1 and log_note(cvv) is null;\n"
      "prepare put_note(text) as update card_notes set note = $1 where id = 1;\n"
      "execute put_note((select cvv from cards where id = 1));\n"
      "begin;\n"
      "update card_notes set note = 'x' where id = 1;\n"
      "update card_notes n set note = upper(c.cvv) from cards c where c.id = n.id;\n"
      "rollback;\n"
      // Stored where the same rule masks it: allowed, and read back masked.
      "update card_notes n set cvv = c.cvv from cards c where c.id = n.id;\n"
      "select log_note('n');\n"
      "execute put_note('n');\n"
      "select count(*) from card_notes where note = 'n';\n"
      "select cvv from card_notes where id = 1;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  const std::string refused = "42501: blocked by rule \"masking:copy\"";
  CHECK(occurrences(r.err, refused) == 12);
  CHECK_THAT(r.err, ContainsSubstring("in column note, which no rule masks"));
  CHECK_THAT(r.err, ContainsSubstring("in columns it does not name"));
  CHECK_THAT(r.err, !ContainsSubstring("current transaction is aborted"));  // ROLLBACK ran
  const std::string masked_cvv(sampleCards()[0].cvv.size(), '*');
  const std::string rows = std::to_string(sampleCards().size());
  CHECK(r.out == "PREPARE\nBEGIN\nUPDATE 1\nROLLBACK\nUPDATE " + rows + "\n\nUPDATE 1\n" + rows +
                     "\n" + masked_cvv + "\n");
  CHECK(sampleSecretsIn(r.out + r.err).empty());
  // Nothing reached the table.
  CHECK(pg.sqlOrThrow("select count(*) from card_notes where note <> 'n' or id > 100",
                      kPgAppDatabase) == "0\n");

  // The extended protocol's Parse is judged the same way (libpq PQexecParams and PQprepare).
  auto x = sidecar.python(kBinaryScript, {"update card_notes set note = cvv where id = 2"});
  INFO("stdout: " << x.out << "\nstderr: " << x.err);
  std::vector<std::string> lines = absl::StrSplit(x.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  // PQprepare was refused, so its statement does not exist.
  CHECK_THAT(nlohmann::json::parse(lines[0])["error"].get<std::string>(),
             ContainsSubstring("masking:copy"));
  CHECK_THAT(nlohmann::json::parse(lines[1])["error"].get<std::string>(),
             ContainsSubstring("does not exist"));
  CHECK(nlohmann::json::parse(lines[2])["status"] == kPgresTuplesOk);

  // Each refusal is a blocked statement event naming the rule, with the normalised text.
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/reason/decision") == "DECISION_BLOCK" &&
           e.value("/reason/ruleIds"_json_pointer, nlohmann::json::array()) ==
               nlohmann::json::array({"masking:copy"}) &&
           jstr(e, "/action/statement") ==
               "update card_notes set note = card_code(id) where id = $1";
  }));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

// Prepares argv[2] as statement "ins", runs the DDL argv[3], then the statement: one JSON line
// per step with its libpq result status and error.
constexpr char kPrepareAcrossDdlScript[] = R"PY(
import ctypes, json, sys
pq = ctypes.CDLL("libpq.so.5")
P, S, I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
for name, res, args in [("PQconnectdb", P, [S]), ("PQstatus", I, [P]), ("PQexec", P, [P, S]),
                        ("PQprepare", P, [P, S, S, I, P]),
                        ("PQexecPrepared", P, [P, S, I, P, P, P, I]),
                        ("PQresultStatus", I, [P]), ("PQresultErrorMessage", S, [P])]:
    f = getattr(pq, name); f.restype = res; f.argtypes = args
conn = pq.PQconnectdb(sys.argv[1].encode())
if pq.PQstatus(conn) != 0:
    sys.exit(1)
def dump(label, res):
    print(json.dumps({"label": label, "status": pq.PQresultStatus(res),
                      "error": (pq.PQresultErrorMessage(res) or b"").decode()}))
dump("prepare", pq.PQprepare(conn, b"ins", sys.argv[2].encode(), 0, None))
dump("ddl", pq.PQexec(conn, sys.argv[3].encode()))
dump("execute", pq.PQexecPrepared(conn, b"ins", 0, None, None, None, 0))
)PY";

TEST_CASE("INSERT ... SELECT * is judged by the columns its tables had at login") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create table if not exists orders_src (id int, total numeric, status text);"
      "create table if not exists orders_archive (like orders_src);"
      "create table if not exists cards_archive as table cards with no data;"
      "alter table orders_src owner to app; alter table orders_archive owner to app;"
      "alter table cards_archive owner to app;"
      "alter table orders_src drop column if exists cvv;"
      "alter table orders_archive drop column if exists note;"
      "truncate orders_src, orders_archive, cards_archive;"
      "insert into orders_src values (1, 10, 'paid'), (2, 20, 'new');"
      // One of the database's own functions: it could create a table shadowing orders_src.
      "create or replace function tg_noop() returns int language sql as 'select 1';",
      kPgAppDatabase);
  SidecarOptions o;
  o.subject = kDbaSubject;  // an admin grant, so its DDL runs; copies are judged for every role
  o.policy.guardrails = false;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());

  // The extended protocol: a statement prepared before the session changed a table was judged
  // by the columns the table had; the server analyses it again, so its Execute is refused.
  auto x = sidecar.python(kPrepareAcrossDdlScript,
                          {"insert into orders_archive select * from orders_src",
                           "alter table orders_archive add column note text"});
  INFO("stdout: " << x.out << "\nstderr: " << x.err);
  std::vector<std::string> lines = absl::StrSplit(x.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 3);
  CHECK(nlohmann::json::parse(lines[0])["error"] == "");
  CHECK(nlohmann::json::parse(lines[1])["error"] == "");
  CHECK_THAT(nlohmann::json::parse(lines[2])["error"].get<std::string>(),
             ContainsSubstring("blocked by rule \"masking:copy\": prepared statement \"ins\""));

  // After a call of one of the database's own functions the login's tables are not trusted.
  auto r = sidecar.psql(
      "select tg_noop();\n"
      "insert into orders_archive select * from orders_src;\n");
  CHECK(r.out == "1\n");
  CHECK_THAT(r.err, ContainsSubstring("42501: blocked by rule \"masking:copy\""));

  r = sidecar.psql(
      // Tables without masked columns: nothing masked is stored.
      "insert into orders_archive select * from orders_src;\n"
      "insert into orders_archive select o.* from orders_src o join cards c on c.id = o.id;\n"
      // cards has cvv: by position it could land anywhere.
      "insert into cards_archive select * from cards;\n"
      "insert into orders_archive select c.* from orders_src o join cards c on c.id = o.id;\n"
      // A value between two stars; a join alias that hides the table it names.
      "insert into orders_archive select o.*, c.cvv, t.* from orders_src o, cards c, "
      "orders_src t where false;\n"
      "insert into orders_archive select o.* from (orders_src o join cards c on c.id = o.id) "
      "as o where false;\n"
      // Named, it lands where the same rule masks it.
      "insert into cards_archive (id, cvv) select id, cvv from cards;\n"
      // The session changes a table: from then on its columns are not the login's, and a
      // statement prepared before is judged again.
      "prepare ins as insert into orders_archive select * from orders_src;\n"
      "alter table orders_src add column cvv text;\n"
      "update orders_src o set cvv = c.cvv from cards c where c.id = o.id;\n"
      "insert into orders_archive select * from orders_src;\n"
      "execute ins;\n"
      "select count(*) from orders_archive;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  const std::string refused = "42501: blocked by rule \"masking:copy\"";
  CHECK(occurrences(r.err, refused) == 6);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in columns it does not name"));
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"ins\" stores a `*`"));
  const std::string cards = std::to_string(sampleCards().size());
  CHECK(r.out ==
        "INSERT 0 2\nINSERT 0 2\nINSERT 0 " + cards + "\nPREPARE\nALTER TABLE\nUPDATE 2\n4\n");
  CHECK(pg.sqlOrThrow("select count(*) from orders_archive where note is not null",
                      kPgAppDatabase) == "0\n");

  // A later session reads the table as it is now.
  r = sidecar.psql("insert into orders_archive select * from orders_src;\n");
  CHECK_THAT(r.err, ContainsSubstring(refused));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in columns it does not name"));
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("a composite value stored elsewhere is judged by its fields") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists wallet_copy; drop domain if exists tg_copyrec_d;"
      "drop type if exists tg_copyrec; drop domain if exists tg_amount;"
      "create type tg_copyrec as (holder text, cvv text);"
      "create domain tg_copyrec_d as tg_copyrec;"
      "create domain tg_amount as numeric;"
      "create table wallet_copy (id int, card tg_copyrec, card2 tg_copyrec, note text, "
      "cards tg_copyrec[], amount tg_amount, dcards tg_copyrec_d[]);"
      "alter type tg_copyrec owner to app; alter domain tg_amount owner to app;"
      "alter domain tg_copyrec_d owner to app;"
      "alter table wallet_copy owner to app;"
      "insert into wallet_copy values (1, row('Ann', '123'), null, 'n', null, 10, "
      "array[row('Bo', '456')::tg_copyrec_d]);",
      kPgAppDatabase);
  SidecarOptions o;
  o.subject = kOpsSubject;  // a write grant
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      // The cvv field would be read back in clear from note.
      "update wallet_copy set note = card::text where id = 1;\n"
      "update wallet_copy set note = cards::text where id = 1;\n"
      "update wallet_copy set note = dcards::text where id = 1;\n"
      "update wallet_copy w set note = x.c::text from (select card as c from wallet_copy) x "
      "where w.id = 1;\n"
      "insert into wallet_copy (id, note) select id + 1, card::text from wallet_copy;\n"
      "prepare put(text) as update wallet_copy set note = $1 where id = 1;\n"
      "execute put((select card::text from wallet_copy where id = 1));\n"
      // Into another composite column too: which table's column a name is, the gate does not
      // know, so neither its type.
      "update wallet_copy set card2 = card where id = 1;\n"
      "update wallet_copy set cards = array[card] where id = 1;\n"
      // A domain over a scalar carries no fields, also after the session sent DDL (refused
      // here: a write grant).
      "update wallet_copy set amount = amount + 1 where id = 1;\n"
      "alter table wallet_copy add column extra int;\n"
      "update wallet_copy set amount = amount + 1 where id = 1;\n"
      "select note, card2, amount from wallet_copy;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  const std::string refused = "42501: blocked by rule \"masking:copy\"";
  CHECK(occurrences(r.err, refused) == 8);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column note"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column card2"));
  CHECK(r.out == "PREPARE\nUPDATE 1\nUPDATE 1\nn||12\n");
  CHECK(pg.sqlOrThrow("select count(*) from wallet_copy where note <> 'n' or id > 1 or "
                      "card2 is not null or cards is not null",
                      kPgAppDatabase) == "0\n");
}
