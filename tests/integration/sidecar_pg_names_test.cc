// Prepared statements and portals by name: what the sidecar believes a name stands for must be
// what the server has under it, whichever protocol made it (Parse / PREPARE, Bind / DECLARE)
// and whichever runs it, or masking follows the wrong statement and a masked column leaks.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using namespace tollgate::testing;

namespace {

// A raw protocol v3 client. argv[2] is a JSON list of batches, each a list of messages:
// ["Q", sql], ["P", name, sql], ["B", portal, statement], ["D", "S"|"P", name],
// ["E", portal], ["C", "S"|"P", name], ["S"]. Each batch is sent whole; the client then reads
// up to the ReadyForQuery of its last Q or S and prints one JSON line per batch: the values of
// every DataRow and the SQLSTATE of every error, in order.
const std::string kRawClient = std::string(kPyRawWire) + R"PY(
startup("job", "payments")
for batch in json.loads(sys.argv[2]):
    out, readies = b"", 0
    for m in batch:
        if m[0] == "Q": out += msg(b"Q", z(m[1])); readies += 1
        elif m[0] == "P": out += msg(b"P", z(m[1]) + z(m[2]) + struct.pack("!h", 0))
        elif m[0] == "B": out += msg(b"B", z(m[1]) + z(m[2]) + struct.pack("!hhh", 0, 0, 0))
        elif m[0] == "D": out += msg(b"D", m[1].encode() + z(m[2]))
        elif m[0] == "E": out += msg(b"E", z(m[1]) + struct.pack("!i", 0))
        elif m[0] == "C": out += msg(b"C", m[1].encode() + z(m[2]))
        elif m[0] == "S": out += msg(b"S", b""); readies += 1
    s.sendall(out)
    result = []
    while readies:
        t, body = read_message()
        if t == b"Z": readies -= 1
        elif t == b"E":
            code = [f[1:] for f in body.split(b"\0") if f[:1] == b"C"]
            result.append("error " + code[0].decode())
        elif t == b"D":
            count, at = struct.unpack("!h", body[:2])[0], 2
            for _ in range(count):
                n = struct.unpack("!i", body[at:at + 4])[0]
                result.append(body[at + 4:at + 4 + max(n, 0)].decode(errors="replace"))
                at += 4 + max(n, 0)
    print(json.dumps(result))
s.sendall(msg(b"X", b""))
)PY";

// card 1's cvv, redacted by the fixture policy's column rule.
std::string redactedCvv() { return std::string(sampleCards()[0].cvv.size(), '*'); }

// Runs `batches` (JSON; "$CVV" stands for a statement returning card 1's cvv as column c)
// through a fresh sidecar; returns one parsed JSON list per batch.
std::vector<nlohmann::json> runBatches(std::string batches) {
  for (size_t at; (at = batches.find("$CVV")) != std::string::npos;) {
    batches.replace(at, 4, "select cvv as c from cards where id = 1");
  }
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(kRawClient, {batches});
  INFO("batches: " << batches << "\nstdout: " << r.out << "\nstderr: " << r.err
                   << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK(sampleSecretsIn(r.out).empty());
  std::vector<nlohmann::json> out;
  for (const auto& line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    out.push_back(nlohmann::json::parse(std::string(line)));
  }
  return out;
}

}  // namespace

TEST_CASE("a Parse the server refuses does not change what the statement name stands for") {
  // The second Parse of "p" fails (42P05: the name exists); the server still has the first.
  auto out = runBatches(R"J([
    [["P", "p", "$CVV"], ["S"]],
    [["P", "p", "select 'x'::text as c"], ["S"]],
    [["B", "", "p"], ["E", ""], ["S"]]])J");
  REQUIRE(out.size() == 3);
  CHECK(out[1] == nlohmann::json::array({"error 42P05"}));
  CHECK(out[2] == nlohmann::json::array({redactedCvv()}));
}

TEST_CASE("statements skipped after an error in a batch do not change names either") {
  // The server skips the Close and the Parse after the failing one: "p" is still the cvv.
  auto out = runBatches(R"J([
    [["P", "p", "$CVV"], ["S"]],
    [["P", "bad", "select * from no_such_table"], ["C", "S", "p"],
     ["P", "p", "select 'x'::text as c"], ["S"]],
    [["B", "", "p"], ["E", ""], ["S"]]])J");
  REQUIRE(out.size() == 3);
  CHECK(out[1] == nlohmann::json::array({"error 42P01"}));
  CHECK(out[2] == nlohmann::json::array({redactedCvv()}));
}

// Regression: the server keys names by their first 63 bytes; the sidecar used whole names, so
// "s...s2" kept a harmless lineage while the server ran the cvv statement under it.
TEST_CASE("statement and portal names longer than 63 bytes are the server's names") {
  const std::string s63(63, 's'), p63(63, 'p');
  std::string batches = R"J([
    [["P", "S2", "select 'x'::text as c"], ["S"]],
    [["C", "S", "S1"], ["P", "S1", "$CVV"], ["S"]],
    [["B", "", "S2"], ["E", ""], ["S"]],
    [["P", "b", "select 'x'::text as c"], ["P", "c", "$CVV"], ["Q", "begin"]],
    [["B", "P2", "b"], ["C", "P", "P1"], ["B", "P1", "c"], ["E", "P2"], ["S"]]])J";
  for (auto [from, to] : {std::pair{"\"S1\"", s63 + "1"}, std::pair{"\"S2\"", s63 + "2"},
                          std::pair{"\"P1\"", p63 + "1"}, std::pair{"\"P2\"", p63 + "2"}}) {
    for (size_t at; (at = batches.find(from)) != std::string::npos;) {
      batches.replace(at, std::string_view(from).size(), "\"" + to + "\"");
    }
  }
  auto out = runBatches(batches);
  REQUIRE(out.size() == 5);
  CHECK(out[2] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[4] == nlohmann::json::array({redactedCvv()}));
}

// Regression: a Describe's answer was stored under whatever its name stood for when the answer
// came, and EXECUTE / FETCH were followed to what their names stood for then: redefining the
// name right behind them made the sidecar mask the cvv with a harmless statement's plan.
TEST_CASE("answers belong to what a name stood for when the message was sent") {
  auto out = runBatches(R"J([
    [["P", "sB", "$CVV"], ["D", "S", "sB"], ["S"]],
    [["P", "", "select"], ["B", "", ""], ["D", "P", ""], ["B", "", "sB"], ["E", ""], ["S"]],
    [["P", "s", "select"], ["D", "S", "s"], ["C", "S", "s"], ["P", "s", "$CVV"], ["S"]],
    [["B", "", "s"], ["E", ""], ["S"]],
    [["Q", "prepare p as $CVV"]],
    [["Q", "execute p; deallocate p; prepare p as select 'x'::text as c"]],
    [["Q", "begin; declare k cursor for $CVV"]],
    [["Q", "fetch all k; close k; declare k cursor for select 'x'::text as c"]],
    [["Q", "commit"]]])J");
  REQUIRE(out.size() == 9);
  CHECK(out[1] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[3] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[5] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[7] == nlohmann::json::array({redactedCvv()}));
}

TEST_CASE("a PREPARE the server refuses does not change what EXECUTE returns") {
  auto out = runBatches(R"J([
    [["Q", "prepare q as $CVV"]],
    [["Q", "prepare q as select 'x'::text as c"]],
    [["Q", "execute q"]]])J");
  REQUIRE(out.size() == 3);
  CHECK(out[1] == nlohmann::json::array({"error 42P05"}));
  CHECK(out[2] == nlohmann::json::array({redactedCvv()}));
}

TEST_CASE("one namespace: PREPARE runs by Bind, Parse runs by EXECUTE") {
  auto out = runBatches(R"J([
    [["Q", "prepare q as $CVV"]],
    [["B", "", "q"], ["E", ""], ["S"]],
    [["P", "p", "$CVV"], ["S"]],
    [["Q", "execute p"]]])J");
  REQUIRE(out.size() == 4);
  CHECK(out[1] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[3] == nlohmann::json::array({redactedCvv()}));
}

TEST_CASE("one namespace: a DECLAREd cursor runs by Execute, a bound portal by FETCH") {
  auto out = runBatches(R"J([
    [["Q", "begin"]],
    [["Q", "declare k cursor for $CVV"]],
    [["E", "k"], ["S"]],
    [["P", "", "$CVV"], ["B", "pp", ""], ["S"]],
    [["Q", "fetch all from pp"]],
    [["Q", "commit"]]])J");
  REQUIRE(out.size() == 6);
  CHECK(out[2] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[4] == nlohmann::json::array({redactedCvv()}));
}

TEST_CASE("a cursor the sidecar did not see opened (a function's refcursor) is masked whole") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function open_cards() returns refcursor language plpgsql as $$ "
      "declare r refcursor := 'fc'; begin open r for select holder, cvv as c from cards where "
      "id = 1; return r; end $$",
      "payments");
  auto out = runBatches(R"J([
    [["Q", "begin"]],
    [["Q", "select open_cards()"]],
    [["Q", "fetch all from fc"]],
    [["Q", "commit"]],
    [["Q", "begin"]],
    [["Q", "select open_cards()"]],
    [["E", "fc"], ["S"]],
    [["Q", "commit"]]])J");
  REQUIRE(out.size() == 8);
  // Nothing says which column came from where: every value gets the first column rule.
  REQUIRE(out[2].size() == 2);
  CHECK(out[2][1] == redactedCvv());
  CHECK(out[2][0].get<std::string>().find_first_not_of("* ") == std::string::npos);
  // Review (session 22): a protocol Execute of it, with no Bind, returned the cvv in clear.
  REQUIRE(out[6].size() == 2);
  CHECK(out[6][1] == redactedCvv());
  CHECK(out[6][0].get<std::string>().find_first_not_of("* ") == std::string::npos);
}

// Review (session 22): a statement's Describe is its result as the name stood at the Parse:
// NoData for a FETCH of a cursor declared later, whose portal then returns rows. Trusting it,
// the sidecar asked nothing and had no description to mask the rows by.
TEST_CASE("a FETCH statement described before its cursor exists is masked by its portal") {
  auto out = runBatches(R"J([
    [["Q", "begin"]],
    [["P", "s1", "fetch all from c"], ["D", "S", "s1"],
     ["P", "s2", "declare c cursor for $CVV"], ["B", "p2", "s2"], ["E", "p2"],
     ["B", "p1", "s1"], ["E", "p1"], ["S"]],
    [["Q", "rollback"]],
    [["Q", "begin"]],
    [["P", "t1", "fetch all from d"], ["D", "S", "t1"], ["S"]],
    [["Q", "declare d cursor for $CVV"]],
    [["B", "q1", "t1"], ["E", "q1"], ["S"]],
    [["Q", "rollback"]]])J");
  REQUIRE(out.size() == 8);
  CHECK(out[1] == nlohmann::json::array({redactedCvv()}));
  CHECK(out[6] == nlohmann::json::array({redactedCvv()}));
}

TEST_CASE(
    "EXECUTE of a prepared SELECT is a read; of a prepared DELETE, a write; of either's with an "
    "admin function as argument, admin") {
  // The job has a read grant: the prepared statement's own class decides, not "other".
  auto out = runBatches(R"J([
    [["Q", "prepare r as select holder from cards where id = 1"]],
    [["Q", "execute r"]],
    [["Q", "prepare w as delete from cards where id = 1"]],
    [["Q", "execute w"]],
    [["Q", "execute never_prepared"]],
    [["Q", "prepare t(text) as select $1"]],
    [["Q", "execute t('plain')"]],
    [["Q", "execute t(dblink_exec('dbname=payments', 'drop table cards'))"]]])J");
  REQUIRE(out.size() == 8);
  CHECK(out[1] == nlohmann::json::array({sampleCards()[0].holder}));
  CHECK(out[2] == nlohmann::json::array({"error 42501"}));
  CHECK(out[3] == nlohmann::json::array({"error 42501"}));
  CHECK(out[4] == nlohmann::json::array({"error 42501"}));
  // Its arguments count too: dblink_exec is an admin function (not installed here: the server
  // would answer 42883).
  CHECK(out[6] == nlohmann::json::array({"plain"}));
  CHECK(out[7] == nlohmann::json::array({"error 42501"}));
}
