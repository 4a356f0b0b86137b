// The PostgreSQL protocol's corners through the real sidecar and a real PostgreSQL: messages the
// server ignores, clients that stop reading or close half their connection, floods of small
// messages, and protocol versions the sidecar does not speak.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// A table `name (id int, note text)` the job's role may write.
void createNotes(PgServer& pg, const std::string& name) {
  pg.sqlOrThrow("create table if not exists " + name + " (id int, note text); grant all on " +
                    name + " to app",
                "payments");
}

}  // namespace

// PostgreSQL ignores Sync and Flush in copy-in mode (libpq's PQexecParams sends Parse, Bind,
// Describe, Execute and Sync at once, then the data, CopyDone and Sync). The sidecar counted the
// first Sync as one the server answers: every later result was paired with the statement before
// it, and "select cvv" came back unmasked under the plan of a statement that read no card.
TEST_CASE("a Sync sent before COPY FROM STDIN's data gets no answer, and results stay paired") {
  auto& pg = sharedPg();
  createNotes(pg, "copy_in_notes");
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

  // Review 3 (session 22): a COPY that fails after CopyInResponse (into a view, with FREEZE)
  // has the server answer the Sync after all; Syncs between CopyData are ignored; thousands of
  // them did not stall the session. Each case is followed by a marker query, read until its
  // row: answers out of step would mask it or never bring it.
  pg.sqlOrThrow(
      "create or replace view copy_in_view as select id, note from copy_in_notes; "
      "grant all on copy_in_view to app",
      "payments");
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
def until_copy_in():
    while True:
        t, body = read_message()
        if t == b"G": return
        if t in (b"E", b"Z"): raise SystemExit("no copy-in: " + repr((t, body)))
marks = 0
def marker():
    global marks
    marks += 1
    s.sendall(msg(b"Q", z("select 'marker-%d'" % marks)))
    while True:
        t, body = read_message()
        if t == b"D" and body[6:].decode() == "marker-%d" % marks:
            break
    ready()
def simple(sql):
    s.sendall(msg(b"Q", z(sql)))
    rows = []
    while True:
        t, body = read_message()
        if t == b"D": rows.append(body[6:].decode(errors="replace"))
        if t == b"Z": return rows
for sql in ["copy copy_in_view from stdin", "copy copy_in_notes from stdin (freeze)"]:
    s.sendall(msg(b"Q", z(sql)) + msg(b"S", b""))
    marker()
    print(sql, "then", simple("select 'plain'"), simple("select cvv from cards where id = 1"))
s.sendall(msg(b"Q", z("copy copy_in_notes from stdin")))
until_copy_in()
s.sendall(msg(b"d", b"4\tfour\n") + msg(b"S", b"") * 5000 + msg(b"d", b"5\tfive\n") +
          msg(b"c", b""))
ready()
marker()
print("syncs in copy then", simple("select note from copy_in_notes where id > 3 order by id"),
      simple("select cvv from cards where id = 1"))
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("copy_in_view from stdin then ['plain'] ['***']"));
  CHECK_THAT(r.out, ContainsSubstring("(freeze) then ['plain'] ['***']"));
  CHECK_THAT(r.out, ContainsSubstring("syncs in copy then ['four', 'five'] ['***']"));
  CHECK(r.out.find(cvv) == std::string::npos);
  pg.sqlOrThrow("drop view copy_in_view; drop table copy_in_notes", "payments");
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
  // Version 3.0 in full (196608), as PostgreSQL's PG_PROTOCOL_LATEST: libpq 17 takes a bare
  // minor number for a downgrade below 3.0.
  CHECK_THAT(r.out, ContainsSubstring("first v (196608, 1) [b'_pq_.foo']"));
  CHECK_THAT(r.out, ContainsSubstring("row 42"));
  // A 3.0 client without options is not told anything (psql: the sidecar's own tests).
  auto plain = sidecar.python(std::string(kPyRawWire) + R"PY(
params = z("user") + z("job") + z("database") + z("payments") + b"\0"
s.sendall(struct.pack("!II", len(params) + 8, 3 << 16) + params)
print("first", read_message()[0].decode())
)PY");
  CHECK_THAT(plain.out, ContainsSubstring("first R"));
  // Without a user name, PostgreSQL refuses the startup packet with 28000 (review 2).
  auto nouser = sidecar.python(std::string(kPyRawWire) + R"PY(
params = z("database") + z("payments") + b"\0"
s.sendall(struct.pack("!II", len(params) + 8, 3 << 16) + params)
t, body = read_message()
print("first", t.decode(), [f[1:].decode() for f in body.split(b"\0") if f[:1] == b"C"])
)PY");
  CHECK_THAT(nouser.out, ContainsSubstring("first E ['28000']"));
}

namespace {

// Sends `count` copies of `message` from a client that sets a tiny receive buffer and never
// reads, for up to 10 seconds, then prints how much it sent and the sidecar's VmHWM, and
// closes. The session's startup parameters include application_name `app`.
constexpr char kPyFlood[] = R"PY(
import select, time
def hwm(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"): return int(line.split()[1])
pid, app, kind, count = int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
params = (z("user") + z("job") + z("database") + z("payments") + z("application_name") +
          z(app) + b"\0")
s.sendall(struct.pack("!II", len(params) + 8, 3 << 16) + params)
if kind != "prelogin":
    while read_message()[0] != b"Z": pass
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.setblocking(False)
# Queries padded to 4 kB: those in flight (kMaxUnitsInFlight) outgrow the sockets' buffers.
query = "select repeat('x', 4000) /* " + "y" * 4000 + " */"
one = msg(b"S", b"") if kind == "sync" else msg(b"Q", z(query))
data = one * count
print("hwm before", hwm(pid))
sent, deadline = 0, time.time() + 10
while sent < len(data) and time.time() < deadline:
    select.select([], [s], [], 0.2)
    try:
        sent += s.send(data[sent:sent + (1 << 20)])
    except BlockingIOError:
        pass
time.sleep(1)
print("sent", sent, "of", len(data))
print("hwm after", hwm(pid))
s.close()
)PY";

// ASan keeps freed memory in quarantine (256 MiB by default), so the resident peak says
// nothing about buffering there; the release build checks the bound.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPeakShowsBuffering = false;
#else
constexpr bool kPeakShowsBuffering = true;
#endif

long reportNumber(const std::string& out, const std::string& key) {
  const size_t at = out.find(key + " ");
  return at == std::string::npos ? -1 : std::stol(out.substr(at + key.size() + 1));
}

// Runs kPyFlood against `sidecar`: what it printed, and how much the sidecar's resident peak
// grew (KiB).
struct Flood {
  RunResult run;
  long grew_kib = -1;
};
Flood flood(const Sidecar& sidecar, const std::string& app, const std::string& kind,
            const std::string& count) {
  Flood f;
  f.run =
      sidecar.python(std::string(kPyRawWire) + kPyFlood,
                     {std::to_string(sidecar.pid()), app, kind, count}, std::chrono::seconds(60));
  const long before = reportNumber(f.run.out, "hwm before");
  const long after = reportNumber(f.run.out, "hwm after");
  if (before > 0 && after > 0) f.grew_kib = after - before;
  return f;
}

}  // namespace

// A client that pipelines statements without reading their results, then hangs up: the sidecar
// stopped reading the server (the client took nothing), the server stopped reading the sidecar,
// and on the hang-up the sidecar waited, without end, to flush what the server would never take:
// the upstream session and its memory stayed.
TEST_CASE("a client that pipelines without reading and hangs up leaves no upstream session") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const Flood f = flood(sidecar, "tg_flood_queries", "query", "10000");
  INFO(f.run.out << f.run.err);
  REQUIRE(f.run.exit_code == 0);
  // Back-pressure reached the client: it could not send everything, so the sidecar had stopped
  // reading it, which it does only with answers owed or writes the server has not taken. (How
  // much it sent first depends on the kernel's socket buffer sizes: 4.7 MB in a busy CI run,
  // over 16 MB on a quiet machine.)
  CHECK(reportNumber(f.run.out, "sent") > 1 << 20);
  CHECK(reportNumber(f.run.out, "sent") < reportNumber(f.run.out, "of"));
  // The server's backend for the session goes away soon after the client does.
  const std::string count_sql =
      "select count(*) from pg_stat_activity where application_name = 'tg_flood_queries'";
  long left = -1;
  for (int i = 0; i < 100 && left != 0; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = std::stol(pg.sqlOrThrow(count_sql));
  }
  CHECK(left == 0);
  CHECK(sidecar.running());
}

// Each Sync is a pending answer to the sidecar (a few hundred bytes); five bytes on the wire. A
// client that sends them without reading grew the sidecar by 200 MB per million.
TEST_CASE("a flood of Syncs from a client that does not read keeps the sidecar's memory bounded") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const Flood f = flood(sidecar, "tg_flood_syncs", "sync", "2000000");
  INFO(f.run.out << f.run.err);
  REQUIRE(f.run.exit_code == 0);
  REQUIRE(f.grew_kib >= 0);
  if (kPeakShowsBuffering) CHECK(f.grew_kib < 32 * 1024);
  // The session is still usable by others.
  auto ok = sidecar.psql("select 'still here';\n");
  CHECK_THAT(ok.out, ContainsSubstring("still here"));
}

// Until the upstream login ends the sidecar decodes nothing the client sends; it read it all
// into memory (300 MB in under a second against a server that never answered).
TEST_CASE("what a client sends before the upstream login ends waits in its socket") {
  auto& pg = sharedPg();
  // A server that accepts connections (the kernel does) and never answers.
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(silent >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(silent, 8) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  SidecarOptions o;
  o.policy.upstream_port = ntohs(addr.sin_port);
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  const Flood f = flood(sidecar, "tg_flood_prelogin", "prelogin", "25000");
  ::close(silent);
  INFO(f.run.out << f.run.err);
  REQUIRE(f.run.exit_code == 0);
  REQUIRE(f.grew_kib >= 0);
  if (kPeakShowsBuffering) CHECK(f.grew_kib < 32 * 1024);
  CHECK(reportNumber(f.run.out, "sent") < 64 << 20);
}

// A client that shuts down its sending side (FIN) after its statements still reads their
// answers: PostgreSQL answers everything sent before the EOF. The sidecar closed both ways on
// the FIN, so the answers were lost (as in PgBouncer).
TEST_CASE("a client that half-closes gets every answer it is owed, masked, then the end") {
  auto& pg = sharedPg();
  createNotes(pg, "half_close_notes");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  const std::string cvv = sampleCards()[0].cvv;
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
# Simple queries, an extended batch and a write, then FIN: nothing is answered yet (pg_sleep).
s.sendall(msg(b"Q", z("select pg_sleep(0.3); select cvv from cards where id = 1")) +
          msg(b"P", z("") + z("select 'ext-' || $1::text") + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhi", 0, 1, 2) + b"42" + struct.pack("!h", 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b"") +
          msg(b"Q", z("insert into half_close_notes values (1, 'after fin')")))
s.shutdown(socket.SHUT_WR)
kinds, rows = [], []
for t, body in read_to_end():
    kinds.append(t.decode())
    if t == b"D": rows.append(body[6:].decode(errors="replace"))
    if t == b"E": rows.append("error " + body.decode(errors="replace"))
print("rows", rows)
print("ready", kinds.count("Z"))
print("leftover", len(buf))
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("rows ['', '***', 'ext-42']"));
  CHECK_THAT(r.out, ContainsSubstring("ready 3"));
  CHECK_THAT(r.out, ContainsSubstring("leftover 0"));
  CHECK(r.out.find(cvv) == std::string::npos);
  CHECK(pg.sqlOrThrow("select note from half_close_notes where id = 1", "payments") ==
        "after fin\n");
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_STATEMENT" && jstr(e, "/action/statementType") == "insert" &&
           jbool(e, "/result/success");
  }));
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_SESSION_END" &&
           jstr(e, "/action/detail").find("peer closed") != std::string::npos;
  }));

  // An extended batch with no Sync: PostgreSQL never flushes its answers and ends at the EOF,
  // so nothing is owed that will come; the session still ends (it does not wait forever), and
  // mid-COPY FROM STDIN a FIN ends it at once, as PostgreSQL fails the copy.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
address = s.getpeername()
s.sendall(msg(b"P", z("") + z("select 1") + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)))
s.shutdown(socket.SHUT_WR)
read_to_end()
print("unsynced batch ended")
s = socket.create_connection(address, timeout=20)
buf = b""
startup("job", "payments")
s.sendall(msg(b"Q", z("copy half_close_notes from stdin")))
while read_message()[0] != b"G": pass
s.sendall(msg(b"d", b"2\tpartial\n"))
s.shutdown(socket.SHUT_WR)
read_to_end()
print("copy ended")
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("unsynced batch ended"));
  CHECK_THAT(r.out, ContainsSubstring("copy ended"));
  CHECK(pg.sqlOrThrow("select count(*) from half_close_notes where id = 2", "payments") == "0\n");
  CHECK(sidecar.running());
  pg.sqlOrThrow("drop table half_close_notes", "payments");
}

// Review (session 24) of the half-close: a Query sent together with a Terminate got no answer
// (PostgreSQL answers it first); a half-closed session ignored a policy update while it still
// delivered rows; and a FIN in the middle of a streamed CopyData left the session and its
// backend waiting for ever.
TEST_CASE("after a Terminate or FIN the answers still follow the policy, and a cut message ends") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  const std::string cvv = sampleCards()[0].cvv;
  // Query + Terminate in one write, then read: the answer comes, masked, then the end.
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(msg(b"Q", z("select cvv from cards where id = 1")) + msg(b"X", b""))
got = read_to_end()
rows = [body[6:].decode(errors="replace") for t, body in got if t == b"D"]
print("terminate rows", rows, "ready", [t for t, _ in got].count(b"Z"))
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("terminate rows ['***'] ready 1"));
  CHECK(r.out.find(cvv) == std::string::npos);

  // A FIN, then the policy takes the write role away while the rows are still to come: the
  // session ends as it would without the FIN, instead of delivering them.
  const auto policy = sidecar.dir().path() / "policy.yaml";
  const std::string original = readWholeFile(policy.string());
  std::string demoted = original;
  const std::string from = "resources: [payments-db], role: write}";
  REQUIRE(demoted.find(from) != std::string::npos);
  demoted.replace(demoted.find(from), from.size(), "resources: [payments-db], role: read}");
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
import os, signal, time
startup("job", "payments")
s.sendall(msg(b"Q", z("select pg_sleep(1.5); select holder from cards where id = 1")))
s.shutdown(socket.SHUT_WR)
time.sleep(0.3)
open(sys.argv[2], "w").write(open(sys.argv[3]).read())
os.kill(int(sys.argv[4]), signal.SIGHUP)
got = ["row" if t == b"D" else body.decode(errors="replace")
       for t, body in read_to_end() if t in (b"D", b"E")]
print("after reload", got)
)PY",
                     {policy.string(), sidecar.dir().write("demoted.yaml", demoted),
                      std::to_string(sidecar.pid())});
  INFO(r.out << r.err << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("now gives role read"));
  CHECK(r.out.find("'row'") == std::string::npos);
  sidecar.dir().write("policy.yaml", original);
  ::kill(sidecar.pid(), SIGHUP);

  // Part of a streamed 2 MiB CopyData is on its way to the server when the FIN comes: nothing
  // can follow it, so the session ends (and its backend with it) instead of waiting.
  r = sidecar.python(std::string(kPyRawWire) + R"PY(
import time
startup("job", "payments")
s.sendall(msg(b"P", z("") + z("select 1") + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) +
          b"d" + struct.pack("!I", 4 + (2 << 20)) + b"x" * 65536)
time.sleep(0.3)
s.shutdown(socket.SHUT_WR)
start = time.time()
read_to_end()
print("cut message ended", time.time() - start < 10)
)PY");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("cut message ended True"));
  long left = -1;
  for (int i = 0; i < 100 && left != 0; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = std::stol(pg.sqlOrThrow(
        "select count(*) from pg_stat_activity where usename = 'app' and query = 'select 1'"));
  }
  CHECK(left == 0);
  CHECK(sidecar.running());
}
