// Masking plans reused across results: the same prepared statement executed with changing
// result formats, and different statements of the same shape, stay masked every time.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "tests/integration/sidecar_pg_harness.h"

using namespace tollgate::testing;

namespace {

// A raw protocol v3 client: Parse + Describe statement once, then Bind/Execute/Sync with the
// result formats given on the command line (no Describe portal, so the sidecar plans the
// masking from the statement's description and Bind's formats). Prints one JSON array of
// values (decoded as UTF-8, or {"hex": ...}) per execution.
const std::string kRawClient = std::string(kPyRawWire) + R"PY(
sql, formats = sys.argv[2].encode(), [int(f) for f in sys.argv[3].split(",")]
def read_until_ready():
    out = []
    while True:
        t, body = read_message()
        if t == b"E": raise SystemExit("error: " + body.decode(errors="replace"))
        out.append((t, body))
        if t == b"Z": return out
startup("job", "payments")
s.sendall(msg(b"P", b"s1\0" + sql + b"\0" + struct.pack("!h", 0)) + msg(b"D", b"Ss1\0") +
          msg(b"S", b""))
read_until_ready()
for f in formats:
    bind = msg(b"B", b"\0s1\0" + struct.pack("!hhhh", 0, 0, 1, f))
    s.sendall(bind + msg(b"E", b"\0" + struct.pack("!i", 0)) + msg(b"S", b""))
    values = []
    for t, body in read_until_ready():
        if t != b"D": continue
        count, at = struct.unpack("!h", body[:2])[0], 2
        for _ in range(count):
            n = struct.unpack("!i", body[at:at + 4])[0]
            raw = body[at + 4:at + 4 + max(n, 0)]
            at += 4 + max(n, 0)
            try:
                values.append(raw.decode())
            except UnicodeDecodeError:
                values.append({"hex": raw.hex()})
    print(json.dumps(values))
s.sendall(msg(b"X", b""))
)PY";

}  // namespace

TEST_CASE("a masking plan built for binary results is not reused for text results") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // bigint card column: described to the client as text, masked whatever format it asks for.
  auto r = sidecar.python(kRawClient,
                          {"select pan_num from cards where id <= 3 order by id", "1,0,1,0,0,1"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 6);
  std::vector<std::string> expected;
  for (size_t i = 0; i < 3; ++i) {
    expected.push_back(pciMasked(std::to_string(sampleCards()[i].pan_num)));
  }
  for (const auto& line : lines) {
    auto values = nlohmann::json::parse(line);
    REQUIRE(values.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) CHECK(values[i] == expected[i]);
  }
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
}

TEST_CASE("statements of one result shape share a plan and each stays masked") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  // Same column shape, different rows, run back to back in one session (simple protocol).
  std::string sql;
  for (int id = 1; id <= 6; ++id) {
    sql += "select pan, cvv from cards where id = " + std::to_string(id) + ";\n";
  }
  auto r = sidecar.psql(sql);
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  REQUIRE(lines.size() == 6);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& c = sampleCards()[i];
    CHECK(lines[i] == pciMasked(c.pan) + "|" + std::string(c.cvv.size(), '*'));
  }
}
