// Real PostgreSQL drivers beyond psql/pgbench/psycopg2 through the sidecar: asyncpg, psycopg 3,
// node-postgres, DBD::Pg, ruby-pg, JDBC, Go pgx and lib/pq, each with a wrong password, masked card
// columns in text and binary results, a blocked statement (42501) that leaves the session usable,
// events.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_drivers_go_script.h"
#include "tests/integration/sidecar_pg_drivers_scripts.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::EndsWith;
using namespace tollgate::testing;

namespace {

// Every driver script connects with this password; the sidecar must never forward it.
constexpr char kWrongPassword[] = "job-password-is-wrong";
constexpr char kJdbcJar[] = "/usr/share/java/postgresql.jar";

// What a job must see for sample rows first..last (1-based), as the scripts print them: the
// columns of the scripts' SEL query joined by '|', rows joined by ';'.
std::string maskedRows(size_t first = 1, size_t last = 6) {
  std::string out;
  for (size_t i = first; i <= last; ++i) {
    const auto& c = sampleCards()[i - 1];
    if (!out.empty()) out += ';';
    out += std::to_string(c.id) + '|' + c.holder + '|' + pciMasked(c.pan) + '|' +
           pciMasked(c.pan_vc) + '|' + pciMasked(std::to_string(c.pan_num)) + '|' +
           pciMasked(c.pan_dec) + '|' + std::string(c.cvv.size(), '*');
  }
  return out;
}

// Card numbers in `text`: standalone Luhn-valid digit runs (luhnRuns) other than the fixture's
// look-alike timestamps, and the sample cards in any form.
std::vector<std::string> leakedCardNumbers(const std::string& text) {
  std::vector<std::string> found;
  for (auto& run : luhnRuns(text, /*standalone=*/true)) {
    bool timestamp = false;
    for (const auto& c : sampleCards()) timestamp |= run == std::to_string(c.created_ms);
    if (!timestamp) found.push_back(run);
  }
  for (auto& s : sampleSecretsIn(text)) found.push_back(s);
  return found;
}

// True when `argv` runs and exits 0 (a probe for an installed driver).
bool probe(const std::vector<std::string>& argv) {
  return run(argv, "", std::chrono::seconds(30)).exit_code == 0;
}

// Removes the rows a driver inserts (ids [from, from+99]) directly on the server.
void clearRows(const PgServer& pg, int from) {
  pg.sqlOrThrow("delete from cards where id between " + std::to_string(from) + " and " +
                    std::to_string(from + 99) + ";",
                kPgAppDatabase);
}

// What the server stored for ids [from, from+99]: "id|pan|pan_vc|pan_num|cvv" lines.
std::string storedRows(const PgServer& pg, int from) {
  return pg.sqlOrThrow("select id, pan, pan_vc, pan_num, cvv from cards where id between " +
                           std::to_string(from) + " and " + std::to_string(from + 99) +
                           " order by id;",
                       kPgAppDatabase);
}

// A write-grant sidecar (so inserts and COPY in are allowed; DDL is still refused by the role).
Sidecar writeSidecar(const PgServer& pg) { return Sidecar(pg, writeGrant()); }

// Writes `script` into the sidecar's temp dir and runs `interpreter... path args...`.
RunResult runScript(const Sidecar& s, const std::vector<std::string>& interpreter,
                    const std::string& file_name, const std::string& script,
                    std::vector<std::string> args = {}) {
  auto path = s.dir().write(file_name, script);
  std::vector<std::string> argv = interpreter;
  argv.push_back(path);
  for (auto& a : args) argv.push_back(std::move(a));
  return run(argv, "", std::chrono::seconds(60));
}

// The checks every driver shares on the sidecar's side once the script has finished: the
// session(s) ended, statements were recorded with the job's identity, the blocked DDL was
// recorded as a block by the write role with 42501, masked values were counted, and no card
// number reached the events file or the log.
void checkEvents(const Sidecar& s, size_t sessions) {
  auto ended = [&] {
    size_t n = 0;
    for (const auto& e : s.events()) n += e.value("type", "") == "EVENT_SESSION_END";
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ended() < sessions && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(ended() == sessions);
  auto events = s.events();
  INFO("events:\n" << s.eventsText());
  size_t statements = 0, blocked_ddl = 0, masked = 0, starts = 0;
  for (const auto& e : events) {
    REQUIRE_FALSE(e.contains("unparsable"));
    CHECK(jstr(e, "/identity/subject") == kOpsSubject);
    CHECK(jstr(e, "/location/resource") == "payments-db");
    std::string type = e.value("type", "");
    starts += type == "EVENT_SESSION_START";
    if (type != "EVENT_STATEMENT") continue;
    ++statements;
    // Every statement of these scripts takes well under a minute (a duration measured from a
    // start time that was never set shows up as the time since boot).
    INFO("statement " << jstr(e, "/action/statement"));
    CHECK(jnum(e, "/result/durationUs") < 60'000'000);
    if (jstr(e, "/reason/decision") == "DECISION_BLOCK" &&
        jstr(e, "/action/statementClass") == "ddl") {
      ++blocked_ddl;
      CHECK(jstr(e, "/result/errorCode") == "42501");
      CHECK(jstr(e, "/reason/ruleIds/0") == "role:write");
    }
    masked += jnum(e, "/result/valuesMasked") > 0;
  }
  CHECK(starts == sessions);
  CHECK(statements >= 5);
  CHECK(blocked_ddl >= 1);
  CHECK(masked >= 1);
  // (Not cardNumbersInAuditAndLog(): some fixture timestamps are Luhn-valid digit runs.)
  std::string all = s.eventsText() + s.log();
  for (const auto& f : leakedCardNumbers(all)) {
    size_t pos = std::min(all.find(f), all.size());
    INFO("card number " << f << " in: " << all.substr(pos < 300 ? 0 : pos - 300, 400));
    CHECK(f.empty());
  }
  // The job's password went nowhere: not upstream (the session worked), not into the trail.
  CHECK(s.eventsText().find(kWrongPassword) == std::string::npos);
  CHECK(s.log().find(kWrongPassword) == std::string::npos);
}

// The report checks every driver shares: masked text rows, a blocked statement with the rule
// named, the session usable afterwards, and no card number anywhere in the output.
void checkCommon(const RunResult& r, const std::map<std::string, std::string>& report) {
  CHECK(report.count("connected") == 1);
  CHECK(report.count("text") == 1);
  if (report.count("text")) CHECK(report.at("text") == maskedRows());
  REQUIRE(report.count("blocked") == 1);
  CHECK_THAT(report.at("blocked"), ContainsSubstring("42501"));
  CHECK_THAT(report.at("blocked"), ContainsSubstring("blocked by rule \"role:write\""));
  CHECK(report.count("usable") == 1);
  if (report.count("usable")) CHECK(report.at("usable") == "still-usable");
  CHECK(report.count("done") == 1);
  CHECK(leakedCardNumbers(r.out + r.err).empty());
}

}  // namespace

TEST_CASE("asyncpg: binary protocol, cache, Describe, executemany, COPY in, cursors") {
  if (!probe({kSystemPython, "-c", "import asyncpg"})) {
    SKIP("python3-asyncpg is not installed");
  }
  auto& pg = sharedPg();
  clearRows(pg, 1000);
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = runScript(sidecar, {kSystemPython}, "asyncpg_check.py", kAsyncpgScript,
                     {std::to_string(sidecar.port()), kWrongPassword});
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  // The statement cache and an explicit prepare reuse the masked description.
  CHECK(at(report, "text-cached") == maskedRows());
  CHECK(at(report, "prepared") == maskedRows());
  CHECK(at(report, "describe") ==
        "id:int4,holder:text,pan:text,pan_vc:varchar,pan_num:text,pan_dec:text,cvv:text");
  CHECK(at(report, "by-bigint-param") ==
        pciMasked("5555-5555-5555-4444") + "|" + pciMasked("5555555555554444") + "|***");
  CHECK(at(report, "count") == "6");
  CHECK(at(report, "cursor") == maskedRows());
  // executemany and COPY in store what was sent; reading back is masked. Binary COPY into a
  // bigint card column is refused by asyncpg itself (see the script), text COPY stores it.
  CHECK(at(report, "executemany") == "ok");
  CHECK(at(report, "copy-in") == "COPY 2");
  CHECK(at(report, "copy-in-bigint") == "ERROR TypeError expected str, got int");
  CHECK(at(report, "after-copy") == "after-copy");
  CHECK(at(report, "copy-in-text") == "COPY 2");
  CHECK(storedRows(pg, 1000) ==
        "1000|4111111111111111|4111111111111111|4111111111111111|111\n"
        "1001|5555555555554444|5555555555554444|5555555555554444|222\n"
        "1010|378282246310005|378282246310005||3333\n"
        "1011|6011111111111117|6011111111111117||4444\n"
        "1030|||378282246310005|\n"
        "1031|||6011111111111117|\n");
  CHECK(at(report, "read-back") ==
        "1000|411111******1111|411111******1111|***;1001|555555******4444|555555******4444|***;"
        "1010|378282*****0005|378282*****0005|****;1011|601111******1117|601111******1117|****;"
        "1030|NULL|NULL|NULL;1031|NULL|NULL|NULL");
  // A blocked statement inside transaction() rolls the whole transaction back; one blocked at
  // Parse (extended protocol) fails the same way.
  CHECK(at(report, "rolled-back-rows") == "0");
  CHECK_THAT(at(report, "blocked-extended"), ContainsSubstring("42501"));
  // A cancel is complete for the driver when its cancel connection closes; it must not land on
  // the statement the driver sends after that.
  CHECK(at(report, "cancel-after-copy-error") == "0 of 5 next statements cancelled");
  // Card numbers inside binary arrays and records, a column rule reached through an alias, and
  // card numbers cast to float8 (kept a float8, hidden digits zero) or bytea.
  CHECK(at(report, "array") == pciMasked("4111111111111111") + "," + pciMasked("5555555555554444"));
  CHECK(at(report, "record") == pciMasked("4111111111111111") + ",Alice Visa");
  CHECK(at(report, "alias") == "***");
  CHECK(at(report, "float8") == "4111110000001111.0");
  CHECK(leakedCardNumbers(at(report, "bytea")).empty());
  checkEvents(sidecar, 1);
  clearRows(pg, 1000);
}

TEST_CASE("psycopg 3: server-side prepares, binary cursors, pipeline mode, COPY, rollback") {
  if (!probe({kSystemPython, "-c", "import psycopg"})) SKIP("python3-psycopg is not installed");
  auto& pg = sharedPg();
  clearRows(pg, 1100);
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = runScript(sidecar, {kSystemPython}, "psycopg_check.py", kPsycopgScript,
                     {sidecar.conninfo(), kWrongPassword});
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  CHECK(at(report, "prepared-again") == maskedRows());
  CHECK(at(report, "binary") == maskedRows());
  CHECK(at(report, "binary-prepared") == maskedRows());
  CHECK(at(report, "binary-types") == "int4,text,text,varchar,text,text,text");
  CHECK(at(report, "pipeline") == maskedRows(1, 1) + "#" + maskedRows(2, 2) + "#6");
  // A statement blocked in the middle of a pipeline fails like a server error there: later
  // statements of the pipeline are aborted, and the connection stays usable.
  CHECK_THAT(at(report, "pipeline-blocked"), ContainsSubstring("42501"));
  CHECK_THAT(at(report, "pipeline-servererror"), ContainsSubstring("22012"));
  CHECK(at(report, "pipeline-servererror-after") != "<missing>");
  CHECK(at(report, "pipeline-blocked-after") == at(report, "pipeline-servererror-after"));
  CHECK(at(report, "pipeline-usable") == "still-usable");
  CHECK(at(report, "copy-in") == "2");
  CHECK(at(report, "copy-in-binary") == "1");
  CHECK(storedRows(pg, 1100) ==
        "1100|5555555555554444|||111\n"
        "1101|378282246310005|||2222\n"
        "1110|3530111333300000|3530111333300000|3530111333300000|555\n");
  CHECK(at(report, "read-back") ==
        "1100|555555******4444|***;1101|378282*****0005|****;1110|353011******0000|***");
  CHECK(at(report, "rolled-back-rows") == "0");
  // Expected to pass after the masking fix: a card number inside a binary text[] value.
  CHECK(at(report, "binary-array") ==
        pciMasked("4111111111111111") + "," + pciMasked("5555555555554444"));
  // A blocked statement whose error reaches the client before the rest of its pipeline is sent
  // must not make the sidecar lose track of the pipeline (it stopped masking the session).
  CHECK_THAT(at(report, "flushed-error"), ContainsSubstring("42501"));
  CHECK(at(report, "after-pipeline-error") == "411111******1111|411111******1111|***");
  CHECK(at(report, "after-pipeline-error-2") == maskedRows(2, 2));
  checkEvents(sidecar, 2);
  clearRows(pg, 1100);
}

TEST_CASE("node-postgres: simple, unnamed and named prepared queries, blocked DDL") {
  std::string node_path = "/usr/share/nodejs";
  if (const char* extra = std::getenv("NODE_PATH"); extra != nullptr && *extra != '\0') {
    node_path = std::string(extra) + ":" + node_path;
  }
  if (!probe({"env", "NODE_PATH=" + node_path, "node", "-e", "require('pg')"})) {
    SKIP("node-pg (with nodejs) is not installed");
  }
  auto& pg = sharedPg();
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = runScript(sidecar, {"env", "NODE_PATH=" + node_path, "node"}, "pg_check.js",
                     kNodePgScript, {std::to_string(sidecar.port()), kWrongPassword});
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  CHECK(at(report, "simple") == maskedRows());
  CHECK(at(report, "named") == maskedRows());
  CHECK(at(report, "named-again") == maskedRows());
  // Card columns a client would decode as numbers are described as text.
  CHECK(at(report, "types") == "23,25,25,1043,25,25,25");
  CHECK(at(report, "by-text-param") == pciMasked("4111 1111 1111 1111") + "|***");
  CHECK_THAT(at(report, "blocked-named"), ContainsSubstring("42501"));
  CHECK(at(report, "named-after-block") == maskedRows());
  checkEvents(sidecar, 1);
}

TEST_CASE("DBD::Pg: placeholders, server-side and client-side prepares, blocked DDL") {
  if (!probe({"perl", "-MDBD::Pg", "-e", "1"})) SKIP("libdbd-pg-perl is not installed");
  auto& pg = sharedPg();
  clearRows(pg, 1300);
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = runScript(sidecar, {"perl"}, "dbd_check.pl", kDbdPgScript,
                     {std::to_string(sidecar.port()), kWrongPassword});
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  CHECK(at(report, "server-prepare") == "1");
  CHECK(at(report, "server-again") == maskedRows());
  CHECK(at(report, "client-side") == maskedRows());
  CHECK(at(report, "by-bigint-param") == pciMasked("6011111111111117") + "|***");
  CHECK(at(report, "insert") == "1");
  CHECK(storedRows(pg, 1300) == "1300|5555555555554444||5555555555554444|999\n");
  CHECK(at(report, "read-back") == "1300|555555******4444|555555******4444|***");
  CHECK(at(report, "rolled-back-rows") == "0");
  CHECK_THAT(at(report, "blocked-prepared"), ContainsSubstring("42501"));
  checkEvents(sidecar, 1);
  clearRows(pg, 1300);
}

TEST_CASE("ruby-pg: exec_params and exec_prepared in text and binary format, blocked DDL") {
  if (!probe({"ruby", "-e", "require 'pg'"})) SKIP("ruby-pg is not installed");
  auto& pg = sharedPg();
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = runScript(sidecar, {"ruby"}, "pg_check.rb", kRubyPgScript,
                     {std::to_string(sidecar.port()), kWrongPassword});
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  CHECK(at(report, "binary") == maskedRows());
  CHECK(at(report, "binary-types") == "23,25,25,1043,25,25,25");
  CHECK(at(report, "binary-formats") == "1,1,1,1,0,0,1");
  CHECK(at(report, "prepared-binary") == maskedRows());
  CHECK(at(report, "prepared-text") == maskedRows());
  CHECK(at(report, "count-binary") == "6");
  CHECK(at(report, "rolled-back") == "ok");
  checkEvents(sidecar, 1);
}

TEST_CASE("JDBC: server-side prepared statements, binary transfer, batch insert, blocked DDL") {
  if (!probe({"java", "-version"}) || !std::filesystem::exists(kJdbcJar)) {
    SKIP("default-jre-headless and libpostgresql-jdbc-java are not installed");
  }
  auto& pg = sharedPg();
  clearRows(pg, 1500);
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = runScript(sidecar, {"java", "-cp", kJdbcJar}, "DriverCheck.java", kJdbcScript,
                     {std::to_string(sidecar.port()), kWrongPassword});
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  // Executions 2 and 3 run the server-side named statement, with binary transfer.
  CHECK(at(report, "named-2") == maskedRows());
  CHECK(at(report, "named-3") == maskedRows());
  CHECK(at(report, "binary") == maskedRows());
  // getLong on a masked card column cannot be a number; the other longs still are.
  CHECK_THAT(at(report, "getlong-pan"), ContainsSubstring("Bad value for type long"));
  CHECK(at(report, "getlong-id") == "1");
  CHECK(at(report, "getlong-created") == std::to_string(sampleCards()[0].created_ms));
  CHECK(at(report, "sum") == "4111110000001111");
  CHECK(at(report, "batch") == "1,1,1");
  CHECK(storedRows(pg, 1500) ==
        "1500|4111111111111111|4111111111111111|4111111111111111|123\n"
        "1501|5555555555554444|5555555555554444|5555555555554444|456\n"
        "1502|378282246310005|378282246310005|378282246310005|7890\n");
  CHECK(at(report, "read-back") ==
        "1500|411111******1111|411111******1111|***;1501|555555******4444|555555******4444|***;"
        "1502|378282*****0005|378282*****0005|****");
  CHECK_THAT(at(report, "blocked-prepared"), ContainsSubstring("42501"));
  CHECK(at(report, "rolled-back-rows") == "0");
  checkEvents(sidecar, 2);  // the binary-transfer checks use a second connection
  clearRows(pg, 1500);
}

TEST_CASE("Go pgx and lib/pq: cached prepares, binary results, batches, binary COPY, cancel") {
  constexpr char kGoPath[] = "/usr/share/gocode";
  if (!probe({"go", "version"}) ||
      !std::filesystem::exists(std::string(kGoPath) + "/src/github.com/jackc/pgx/v4") ||
      !std::filesystem::exists(std::string(kGoPath) + "/src/github.com/lib/pq")) {
    SKIP(
        "golang-go, golang-github-jackc-pgx-v4-dev and golang-github-lib-pq-dev are not "
        "installed");
  }
  auto& pg = sharedPg();
  clearRows(pg, 1600);
  Sidecar sidecar = writeSidecar(pg);
  REQUIRE(sidecar.ready());
  // Debian's Go packages are GOPATH sources; the build cache outlives the test (a rebuild of
  // pgx takes most of a minute on two cores).
  auto source = sidecar.dir().write("driver_check.go", kGoScript);
  auto binary = (sidecar.dir().path() / "driver_check").string();
  auto cache = (std::filesystem::temp_directory_path() / "tollgate-go-cache").string();
  auto built = run({"env", "GO111MODULE=off", "GOFLAGS=", "GOPATH=" + std::string(kGoPath),
                    "GOCACHE=" + cache, "go", "build", "-o", binary, source},
                   "", std::chrono::seconds(300));
  INFO("go build:\n" << built.out << built.err);
  REQUIRE(built.exit_code == 0);
  auto r =
      run({binary, std::to_string(sidecar.port()), kWrongPassword}, "", std::chrono::seconds(60));
  auto report = parseReport(r.out);
  INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err << "\nsidecar log:\n" << sidecar.log());
  CHECK(r.exit_code == 0);
  checkCommon(r, report);
  // pgx: a named statement per query text, described once (int4 in binary, the card columns
  // as text), then simple protocol, text results, a bigint parameter.
  CHECK(at(report, "pgx-cached") == maskedRows());
  CHECK(at(report, "pgx-types") == "23,25,25,1043,25,25,25 1,0,0,0,0,0,0");
  CHECK(at(report, "pgx-simple") == maskedRows());
  CHECK(at(report, "pgx-text-format") == maskedRows());
  CHECK(at(report, "pgx-bigint-param") == pciMasked("6011111111111117") + "|***");
  CHECK_THAT(at(report, "pgx-scan-int64"), ContainsSubstring("unable to assign to *int64"));
  CHECK(at(report, "pgx-sum") == "21");
  // Blocked at the describe pgx's Batch starts with, in the middle of a pgconn pipeline (the
  // rows before it arrive, the server skips the rest), and inside a simple-protocol batch.
  CHECK_THAT(at(report, "pgx-batch-describe"), ContainsSubstring("42501"));
  CHECK(at(report, "pgx-pipeline") ==
        maskedRows(1, 1) +
            "#42501 blocked by rule \"role:write\": a write grant does not allow "
            "ddl statements (drop)");
  CHECK(at(report, "pgx-after-pipeline") == maskedRows(1, 2));
  CHECK_THAT(at(report, "pgx-simple-batch"), ContainsSubstring("42501"));
  CHECK(at(report, "pgx-simple-conn") == maskedRows());
  CHECK(at(report, "pgx-simple-after") == maskedRows(1, 1));
  // Binary COPY stores what was sent; one into a bigint card column fails on the client (it
  // encodes by the described types) and its error, echoed by the server, is masked.
  CHECK(at(report, "pgx-copy") == "2");
  CHECK_THAT(at(report, "pgx-copy-bigint"), ContainsSubstring("57014"));
  CHECK_THAT(at(report, "pgx-copy-bigint"), ContainsSubstring("cannot convert"));
  CHECK(at(report, "pgx-read-back") ==
        "1600|411111******1111|411111******1111|***;1601|555555******4444|NULL|***");
  CHECK_THAT(at(report, "pgx-rolled-back"), ContainsSubstring("42501"));
  CHECK_THAT(at(report, "pgx-rolled-back"), EndsWith(" I"));  // idle after the rollback
  CHECK_THAT(at(report, "pgx-timeout"), ContainsSubstring("context deadline exceeded"));
  // lib/pq: unnamed statements with text results, a named prepare run twice, COPY FROM STDIN in
  // a transaction, and a cancel on context timeout (lib/pq then drops that connection; the
  // pool's next one answers "usable").
  CHECK(at(report, "pq-text") == maskedRows());
  CHECK(at(report, "pq-simple") == maskedRows());
  CHECK(at(report, "pq-prepared") == maskedRows() + "#" + maskedRows());
  CHECK_THAT(at(report, "pq-blocked"), ContainsSubstring("42501"));
  CHECK(at(report, "pq-copy") == "ok");
  CHECK(at(report, "pq-cancel") == "57014 canceling statement due to user request");
  CHECK(storedRows(pg, 1600) ==
        "1600|4111111111111111|4111111111111111||123\n"
        "1601|5555555555554444|||456\n"
        "1602|378282246310005|378282246310005|378282246310005|7890\n");
  // pgx gave up its connection at the deadline and sent a CancelRequest: the sleep ends on the
  // server too, it does not run on for its 30 seconds.
  CHECK(eventually([&] {
    return pg.sqlOrThrow(
               "select count(*) from pg_stat_activity where query like "
               "'select pg_sleep(30)%';") == "0\n";
  }));
  // Sessions: pgx, pgx in simple protocol, lib/pq before and after its cancel.
  checkEvents(sidecar, 4);
  clearRows(pg, 1600);
}
