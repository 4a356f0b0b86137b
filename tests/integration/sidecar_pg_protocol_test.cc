// The PostgreSQL protocol's corners through the real sidecar and a real PostgreSQL: messages the
// server ignores, clients that stop reading or close half their connection, floods of small
// messages, and protocol versions the sidecar does not speak.
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

// PostgreSQL ignores Sync and Flush in copy-in mode (libpq's PQexecParams sends Parse, Bind,
// Describe, Execute and Sync at once, then the data, CopyDone and Sync). The sidecar counted the
// first Sync as one the server answers: every later result was paired with the statement before
// it, and "select cvv" came back unmasked under the plan of a statement that read no card.
TEST_CASE("a Sync sent before COPY FROM STDIN's data gets no answer, and results stay paired") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create table if not exists copy_in_notes (id int, note text); "
      "grant all on copy_in_notes to app",
      "payments");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  const std::string cvv = sampleCards()[0].cvv;
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def simple(sql):
    s.sendall(msg(b"Q", z(sql)))
    rows = []
    while True:
        t, body = read_message()
        if t == b"D": rows.append(body[6:].decode(errors="replace"))
        if t == b"E": rows.append("error " + body.decode(errors="replace"))
        if t == b"Z": return rows
def until_copy_in():
    while True:
        t, body = read_message()
        if t == b"G": return
        if t in (b"E", b"Z"): raise SystemExit("no copy-in: " + repr((t, body)))
def extended_copy(data):
    s.sendall(msg(b"P", z("") + z("copy copy_in_notes from stdin") + struct.pack("!h", 0)) +
              msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
              msg(b"D", b"P" + z("")) + msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
    until_copy_in()
    s.sendall(msg(b"d", data) + msg(b"c", b"") + msg(b"S", b""))
    ready()
# libpq's order, twice; then the simple protocol with a Sync between the statement and the data.
extended_copy(b"1\tone\n")
extended_copy(b"2\ttwo\n")
s.sendall(msg(b"Q", z("copy copy_in_notes from stdin")) + msg(b"S", b""))
until_copy_in()
s.sendall(msg(b"d", b"3\tthree\n") + msg(b"c", b""))
ready()
for sql in ["select note from copy_in_notes order by id", "select cvv from cards where id = 1",
            "select 'plain'", "select cvv from cards where id = 1"]:
    print(sql, "=>", simple(sql))
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("order by id => ['one', 'two', 'three']"));
  CHECK_THAT(r.out, ContainsSubstring("select 'plain' => ['plain']"));
  CHECK(r.out.find(cvv) == std::string::npos);
  CHECK(countOf(r.out, "where id = 1 => ['***']") == 2);
  pg.sqlOrThrow("drop table copy_in_notes", "payments");
}

// PostgreSQL answers a startup packet asking for a newer minor version of protocol 3, or for
// protocol options (_pq_.*), with NegotiateProtocolVersion before anything else; the sidecar
// dropped the options and went on without telling the client.
TEST_CASE("a newer protocol version or protocol options get NegotiateProtocolVersion") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
params = z("user") + z("job") + z("database") + z("payments") + z("_pq_.foo") + z("bar") + b"\0"
s.sendall(struct.pack("!II", len(params) + 8, (3 << 16) | 2) + params)
t, body = read_message()
print("first", t.decode(), struct.unpack("!ii", body[:8]), body[8:].split(b"\0")[:-1])
ready()
s.sendall(msg(b"Q", z("select 40 + 2")))
while True:
    t, body = read_message()
    if t == b"D": print("row", body[6:].decode())
    if t == b"Z": break
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("first v (0, 1) [b'_pq_.foo']"));
  CHECK_THAT(r.out, ContainsSubstring("row 42"));
  // A 3.0 client without options is not told anything (psql: the sidecar's own tests).
  auto plain = sidecar.python(std::string(kPyRawWire) + R"PY(
params = z("user") + z("job") + z("database") + z("payments") + b"\0"
s.sendall(struct.pack("!II", len(params) + 8, 3 << 16) + params)
print("first", read_message()[0].decode())
)PY");
  CHECK_THAT(plain.out, ContainsSubstring("first R"));
}
