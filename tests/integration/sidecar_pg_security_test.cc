// Connection-level security through the real sidecar: client TLS (verify-full), subjects with no
// access rule, untrusted upstream CA, wrong upstream credential.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

void putInt32(std::string& out, uint32_t v) {
  uint32_t be = htonl(v);
  out.append(reinterpret_cast<const char*>(&be), 4);
}

uint32_t getInt32(const std::string& s, size_t at) {
  uint32_t be = 0;
  std::memcpy(&be, s.data() + at, 4);
  return ntohl(be);
}

// A minimal protocol-3 client (libpq does not expose the SQLSTATE of a failed connection):
// sends a StartupMessage, answers a cleartext/MD5 password request with a dummy password, and
// returns the fields of the first ErrorResponse ('S', 'V', 'C', 'M', ...). Empty when the
// server sent none within a few seconds (e.g. it accepted the session).
std::map<char, std::string> startupError(int port) {
  std::map<char, std::string> fields;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return fields;
  }
  std::string body;
  putInt32(body, 196608);
  for (const char* s : {"user", "job", "database", "payments", ""}) body.append(s, strlen(s) + 1);
  std::string startup;
  putInt32(startup, static_cast<uint32_t>(body.size() + 4));
  startup += body;
  ::send(fd, startup.data(), startup.size(), MSG_NOSIGNAL);
  std::string in;
  char buf[4096];
  for (;;) {
    // Complete messages first.
    while (in.size() >= 5 && in.size() >= 1 + getInt32(in, 1)) {
      char type = in[0];
      size_t len = getInt32(in, 1);
      std::string payload = in.substr(5, len - 4);
      in.erase(0, 1 + len);
      if (type == 'E') {
        for (size_t p = 0; p < payload.size() && payload[p] != '\0';) {
          char code = payload[p++];
          size_t end = payload.find('\0', p);
          if (end == std::string::npos) break;
          fields[code] = payload.substr(p, end - p);
          p = end + 1;
        }
        ::close(fd);
        return fields;
      }
      if (type == 'R' && payload.size() >= 4) {
        uint32_t kind = getInt32(payload, 0);
        if (kind == 3 || kind == 5) {
          std::string pw = "p";
          putInt32(pw, 4 + 6);
          pw.append("dummy", 6);
          ::send(fd, pw.data(), pw.size(), MSG_NOSIGNAL);
        }
      }
      if (type == 'Z') {
        ::close(fd);
        return fields;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return fields;
}

}  // namespace

TEST_CASE("client TLS: verify-full against the sidecar's CA works for localhost") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.client_tls = true;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = run({"psql", "-X", "-At", "-d",
                "host=localhost port=" + std::to_string(sidecar.port()) +
                    " dbname=payments user=job password=x sslmode=verify-full sslrootcert=" +
                    pg.pki().ca_cert,
                "-c", "\\conninfo", "-c", "select pan_vc from cards where id = 1"});
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("SSL connection (protocol: TLSv1."));
  CHECK_THAT(r.out, ContainsSubstring("411111******1111\n"));
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return e.value("type", "") == "EVENT_SESSION_START" &&
           jstr(e, "/action/detail").find("client_tls=on") != std::string::npos;
  }));
}

TEST_CASE("client TLS: verify-full works when the job connects to 127.0.0.1") {
  // A job given host=127.0.0.1 (the listener's own address) must be able to verify the
  // certificate the sidecar presents, so the certificate needs IP:127.0.0.1 in its SAN.
  auto& pg = sharedPg();
  SidecarOptions o;
  o.client_tls = true;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select 'verified';\n", {},
                        "sslmode=verify-full sslrootcert=" + pg.pki().ca_cert);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "verified\n");
}

TEST_CASE("client TLS: a job that demands TLS from a sidecar without a client CA is refused") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select 1;\n", {}, "sslmode=require");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, ContainsSubstring("server does not support SSL, but SSL was required"));
  // And a verify-full job does not accept a certificate from a CA it does not trust.
  SidecarOptions o;
  o.client_tls = true;
  Sidecar tls_sidecar(pg, o);
  REQUIRE(tls_sidecar.ready());
  auto v = tls_sidecar.psql("select 1;\n", {},
                            "sslmode=verify-full sslrootcert=" + pg.pki().other_ca_cert);
  CHECK(v.exit_code != 0);
  CHECK_THAT(v.err, ContainsSubstring("certificate verify failed"));
}

TEST_CASE("a subject with no access rule gets FATAL 28000 naming it") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.subject = kStrangerSubject;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto fields = startupError(sidecar.port());
  CHECK(fields['S'] == "FATAL");
  CHECK(fields['C'] == "28000");
  CHECK_THAT(fields['M'], ContainsSubstring(kStrangerSubject));
  auto r = sidecar.psql("select 1;\n");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, ContainsSubstring("FATAL:  tollgate: no access rule grants"));
  CHECK(sidecar.running());
}

TEST_CASE("an access rule that requires approval is refused without a control plane") {
  // Standalone mode has no approver to ask: the grant can never be approved, so fail closed.
  auto& pg = sharedPg();
  SidecarOptions o;
  o.subject = kApprovalSubject;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto fields = startupError(sidecar.port());
  CHECK(fields['S'] == "FATAL");
  CHECK(fields['C'] == "28000");
  CHECK_THAT(fields['M'], ContainsSubstring("requires an approved grant"));
  CHECK_THAT(fields['M'], ContainsSubstring("fix-write"));
}

TEST_CASE("an upstream certificate from an untrusted CA is refused with a clear error") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.policy.upstream_ca = pg.pki().other_ca_cert;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select pan from cards;\n");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, ContainsSubstring("FATAL:  tollgate: TLS to resource payments-db failed"));
  CHECK_THAT(r.err, ContainsSubstring("certificate verify failed"));
  CHECK(r.out.empty());
  auto fields = startupError(sidecar.port());
  CHECK(fields['S'] == "FATAL");
  CHECK(fields['C'].substr(0, 2) == "08");
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_CONNECTION_REFUSED" &&
           jstr(e, "/action/detail").find("certificate verify failed") != std::string::npos;
  }));
  CHECK(sidecar.running());
}

TEST_CASE("a wrong upstream credential gives a clear error and never shows the password") {
  auto& pg = sharedPg();
  const std::string bad_password = "Wr0ng-Passw0rd-zq";
  SidecarOptions o;
  o.policy.credential = std::string(kPgAppUser) + ":" + bad_password;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select 1;\n");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err,
             ContainsSubstring("FATAL:  tollgate: resource payments-db refused the session"));
  CHECK_THAT(r.err, ContainsSubstring("password authentication failed for user \"app\""));
  auto fields = startupError(sidecar.port());
  CHECK(fields['S'] == "FATAL");
  CHECK(fields['C'] == "28P01");  // the server's invalid_password, relayed
  CHECK(sidecar.running());
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_CONNECTION_REFUSED" &&
           jstr(e, "/action/detail").find("password authentication failed") != std::string::npos;
  }));
  for (const std::string& text : {r.err, sidecar.log(), sidecar.eventsText()}) {
    CHECK(text.find(bad_password) == std::string::npos);
    CHECK(text.find("apppw") == std::string::npos);
  }
}

TEST_CASE("startup settings: ordinary ones reach the server, others and replication are refused") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);  // a read grant
  REQUIRE(sidecar.ready());
  // PGOPTIONS / options=: -c and --name=value settings, as the server reads them.
  auto r = sidecar.psql("show statement_timeout;\nshow lock_timeout;\nshow application_name;\n", {},
                        "sslmode=disable application_name=nightly "
                        "options='-c statement_timeout=1234 --lock-timeout=2s'");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "1234ms\n2s\nnightly\n");
  // The session's start event names them (never their values).
  CHECK(sidecar.waitForEvent([](const nlohmann::json& e) {
    return jstr(e, "/type") == "EVENT_SESSION_START" &&
           jstr(e, "/action/detail").find("statement_timeout,lock_timeout") != std::string::npos;
  }));
  // What a read grant could not SET it cannot set at startup either; nothing is dropped
  // silently.
  const std::pair<std::string, std::string> refused[] = {
      {"options='-c role=postgres'", "may not set role at startup"},
      {"options='-c session_replication_role=replica'", "may not set session_replication_role"},
      {"options='-c app.tenant=7'", "may not set app.tenant"},
      {"options='-c standard_conforming_strings=off'", "may not set standard_conforming_strings"},
      {"options='-B 100'", "the server switch \"-B\" is not allowed"},
      {"options='-c statement_timeout'", "needs name=value"},
      {"replication=database", "replication connections are not allowed"},
      {"replication=true", "replication connections are not allowed"},
  };
  for (const auto& [extra, message] : refused) {
    INFO(extra);
    auto v = sidecar.psql("select 1;\n", {}, "sslmode=disable " + extra);
    CHECK(v.exit_code != 0);
    CHECK_THAT(v.err, ContainsSubstring("FATAL:  tollgate: "));
    CHECK_THAT(v.err, ContainsSubstring(message));
  }
  CHECK(sidecar.running());
}

// Regression: in SJIS the bytes C3 95 5C are two characters to the server, the second holding
// the backslash, and "E'\xC3\x95\\'; UPDATE ..." was one harmless SELECT to the sidecar but a
// SELECT and an UPDATE to the server. The sidecar reads statements as UTF-8, so the session's
// client_encoding may never be one whose characters hold ASCII bytes.
TEST_CASE("client encodings whose characters can hide a quote or backslash are refused") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "create or replace function to_sjis() returns text language sql as "
      "$$ select set_config('client_encoding', 'SJIS', false) $$;",
      kPgAppDatabase);
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "set client_encoding to 'SJIS';\n"
      "set client_encoding to 'S.JIS';\n"  // PostgreSQL reads letters and digits only
      "set names 'big5';\n"
      "select set_config('client_encoding', 'GBK', false);\n"
      "set client_encoding to 'LATIN1';\n"
      "show client_encoding;\n");
  INFO("stderr: " << r.err);
  CHECK(countOf(r.err, "blocked by rule \"client-encoding\"") == 4);
  CHECK(r.out == "SET\nLATIN1\n");
  // At startup.
  auto startup = sidecar.psql("select 1;\n", {}, "sslmode=disable client_encoding=SJIS");
  CHECK_THAT(startup.err, ContainsSubstring("client_encoding SJIS cannot be analysed"));
  CHECK(startup.out.empty());
  // However the server comes to it (here a function): the session ends.
  auto fn = sidecar.psql("select to_sjis();\nselect 'not reached';\n");
  CHECK_THAT(fn.err, ContainsSubstring("0A000"));
  CHECK_THAT(fn.err, ContainsSubstring("client_encoding SJIS cannot be analysed"));
  CHECK(fn.out.find("not reached") == std::string::npos);
}

// Regression: a second startup packet mid-session read as a message of type 0 with a plausible
// length, and the session waited for its body. Like PostgreSQL, the sidecar now judges a message
// by its type byte and ends the session at once with FATAL 08P01.
TEST_CASE("a startup packet in the middle of a session ends it at once with 08P01") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  const std::string script = std::string(kPyRawWire) + R"PY(
startup("job", "payments")
s.sendall(struct.pack("!II", 8, 80877103))  # SSLRequest
t, body = read_message()
fields = {f[:1]: f[1:].decode() for f in body.split(b"\0") if f}
print(t.decode(), fields.get(b"S"), fields.get(b"C"), fields.get(b"M"))
try:
    read_message()
    print("still open")
except SystemExit:
    print("closed")
)PY";
  auto r = sidecar.python(script);
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("E FATAL 08P01"));
  CHECK_THAT(r.out, ContainsSubstring("invalid frontend message type 0"));
  CHECK_THAT(r.out, ContainsSubstring("closed"));
  CHECK(sidecar.running());
}

// Red-team round 7: a connection that never completed its startup (silent, or an SSLRequest and
// no TLS handshake) held a descriptor and a session slot forever.
TEST_CASE("a client that does not complete its startup in time is disconnected") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.extra_args = {"--startup-timeout", "1"};
  o.client_tls = true;  // so the SSLRequest is answered 'S' and the handshake can stall
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  const std::string script = R"PY(
import re, socket, struct, sys, time
port = int(re.search(r"port=(\d+)", sys.argv[1]).group(1))
silent = socket.create_connection(("127.0.0.1", port), timeout=20)
tls = socket.create_connection(("127.0.0.1", port), timeout=20)
tls.sendall(struct.pack("!II", 8, 80877103))  # SSLRequest, then no ClientHello
print("ssl answer", tls.recv(1))
start = time.monotonic()
for name, s in (("silent", silent), ("tls", tls)):
    try:
        data = s.recv(4096)
        print(name, "closed" if not data or b"did not complete its startup" in data else data)
    except OSError as e:
        print(name, "error", e)
print("within", int(time.monotonic() - start) < 15)
)PY";
  auto r = sidecar.python(script);
  INFO("stderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "ssl answer b'S'\nsilent closed\ntls closed\nwithin True\n");
  // Sessions that did start are not touched.
  auto ok = sidecar.psql("select 1;\n", {}, "sslmode=disable");
  CHECK(ok.out == "1\n");
}

// Red-team round 7: a 256 MB statement took the sidecar to 1.3 GB while libpg_query parsed it.
// SQL over --max-statement-bytes is refused unread, whatever defaults.onParseError says.
TEST_CASE("a statement longer than the analysis limit is refused and the session goes on") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.extra_args = {"--max-statement-bytes", "1024"};
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  const std::string big = "select '" + std::string(2000, 'x') + "' as big;\n";
  auto r = sidecar.psql(big + "select 1;\n");
  INFO("stderr: " << r.err);
  CHECK_THAT(r.err, ContainsSubstring("limit:statement-size"));
  CHECK_THAT(r.err, ContainsSubstring("longer than the 1024 bytes the gate analyses"));
  CHECK(r.out == "1\n");
  auto py = sidecar.python(R"PY(
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    try:
        conn.execute("select %s::text || '" + "y" * 2000 + "'", ["a"])
    except psycopg.Error as e:
        print("refused", e.sqlstate)
    print(conn.execute("select 2").fetchone()[0])
)PY");
  INFO("python: " << py.out << py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(py.out == "refused 42501\n2\n");
}

// Review (session 24): a statement over the limit was refused, but only once the sidecar had
// read it whole: a 200 MB Query took it to 278 MB, past the 256 MiB the webhook gives it, so
// one job could get every session of its pod killed. It is now dropped unread as it arrives;
// other messages the sidecar must hold whole (a row to mask) have a limit of their own, and
// one over it ends the session with 54000 instead of the sidecar's memory.
TEST_CASE("statements over the limit are dropped unread; rows over the message limit end clearly") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.extra_args = {"--max-statement-bytes", "1048576", "--max-message-bytes", "4194304"};
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r = sidecar.python(std::string(kPyRawWire) + R"PY(
def hwm():
    for line in open("/proc/%s/status" % sys.argv[2]):
        if line.startswith("VmHWM:"): return int(line.split()[1])
startup("job", "payments")
before = hwm()
big = "select '" + "x" * (48 << 20) + "'"
# A simple Query, then an extended batch whose Parse is the big one: both refused, in order.
s.sendall(msg(b"Q", z(big)))
ready()
s.sendall(msg(b"P", z("big_stmt") + z(big) + struct.pack("!h", 0)) +
          msg(b"B", z("") + z("big_stmt") + struct.pack("!hhh", 0, 0, 0)) +
          msg(b"E", z("") + struct.pack("!i", 0)) + msg(b"S", b""))
ready()
s.sendall(msg(b"Q", z("select 'still usable'")))
while True:
    t, body = read_message()
    if t == b"D": print("row", body[6:].decode())
    if t == b"Z": break
print("hwm grew kib", hwm() - before)
# A row over --max-message-bytes: the session ends with 54000, the sidecar stays.
s.sendall(msg(b"Q", z("select repeat('y', 6000000)")))
while True:
    t, body = read_message()
    if t == b"E":
        print(body.decode(errors="replace"))
        break
)PY",
                          {std::to_string(sidecar.pid())}, std::chrono::seconds(120));
  INFO(r.out << r.err << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK(countOf(r.out, "limit:statement-size") == 2);
  CHECK_THAT(r.out, ContainsSubstring("row still usable"));
  CHECK_THAT(r.out, ContainsSubstring("C54000"));
  CHECK_THAT(r.out, ContainsSubstring("DataRow message of"));
  CHECK_THAT(r.out, ContainsSubstring("--max-message-bytes"));
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident
  const size_t at = r.out.find("hwm grew kib ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stol(r.out.substr(at + 13)) < 16 * 1024);  // 96 MB of SQL went by
#endif
  CHECK(sidecar.running());
  CHECK(sidecar.psql("select 1;\n").out == "1\n");
}

namespace {
// Waits until the sidecar's log holds `text` `count` times.
bool waitForLog(Sidecar& sidecar, const std::string& text, int count) {
  for (int i = 0; i < 100; ++i) {
    if (countOf(sidecar.log(), text) >= count) return true;
    usleep(50000);
  }
  return false;
}
}  // namespace

// Red-team round 7: a reload that named another credential file kept the old one, and a reload
// of a file cut short before its masking section turned masking off for new sessions.
// The sidecar keeps the SCRAM keys it derived (scram.h): a rotated password, which the server
// stores with a new salt, must still be derived afresh, and the old one must stop working.
TEST_CASE("a rotated upstream password is used from the next connection") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop role if exists rot_user; create role rot_user login password 'Rot-One-1';"
      "grant connect on database payments to rot_user;");
  SidecarOptions o;
  o.policy.credential = "rot_user:Rot-One-1";
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  for (int i = 0; i < 2; ++i) CHECK(sidecar.psql("select current_user;\n").out == "rot_user\n");
  pg.sqlOrThrow("alter role rot_user password 'Rot-Two-2';");
  auto r = sidecar.psql("select 1;\n");  // the file still holds the old password
  CHECK_THAT(r.err, ContainsSubstring("password authentication failed"));
  sidecar.dir().write("cred", "rot_user:Rot-Two-2");
  for (int i = 0; i < 2; ++i) {
    r = sidecar.psql("select current_user;\n");
    INFO(r.err);
    CHECK(r.out == "rot_user\n");
  }
  // Back to the first password: the server salts it anew.
  pg.sqlOrThrow("alter role rot_user password 'Rot-One-1';");
  sidecar.dir().write("cred", "rot_user:Rot-One-1");
  CHECK(sidecar.psql("select current_user;\n").out == "rot_user\n");
  for (const std::string& text : {sidecar.log(), sidecar.eventsText()}) {
    CHECK(text.find("Rot-One-1") == std::string::npos);
    CHECK(text.find("Rot-Two-2") == std::string::npos);
  }
}

TEST_CASE("a policy reload switches credential files and refuses to drop masking") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop role if exists reload_ro; create role reload_ro login password 'ropw';"
      "grant connect on database payments to reload_ro;");
  pg.sqlOrThrow("grant select on cards to reload_ro;", "payments");
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  CHECK(sidecar.psql("select current_user;\n").out == "app\n");
  auto cred = sidecar.dir().write("cred-ro", "reload_ro:ropw");
  sidecar.dir().write("policy.yaml", standardPolicy(pg, cred, PolicyOptions{}));
  ::kill(sidecar.pid(), SIGHUP);
  REQUIRE(waitForLog(sidecar, "policy loaded", 2));
  CHECK(sidecar.psql("select current_user;\n").out == "reload_ro\n");
  // The same policy cut short before `masking:`.
  std::string text = standardPolicy(pg, cred, PolicyOptions{});
  sidecar.dir().write("policy.yaml", text.substr(0, text.find("masking:")));
  ::kill(sidecar.pid(), SIGHUP);
  REQUIRE(waitForLog(sidecar, "policy reload failed", 1));
  CHECK_THAT(sidecar.log(), ContainsSubstring("no masking section while the current one masks"));
  auto r = sidecar.psql("select pan_vc, cvv from cards where id = 1;\n");
  CHECK(r.out == "411111******1111|***\n");
}
