// The sidecar against upstream servers that do what PostgreSQL never does: ask for a password
// in clear over TLS that proves nothing, skip the end of a SCRAM exchange, ask twice, send login
// messages after login, ask for SCRAM's largest iteration count; and the upstream connections it
// makes for a session besides the session's own: a cancel after a policy reload, a client's TLS
// close_notify.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/scripted_pg_server.h"
#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// A sidecar whose payments-db is `server`, in clear (tls: disable).
SidecarOptions towards(const ScriptedServer& server) {
  SidecarOptions o;
  o.policy.upstream_port = server.port();
  o.policy.upstream_tls = "disable";
  return o;
}

std::string authRequest(uint32_t code, const std::string& data = {}) {
  return backendMessage('R', be32(code) + data);
}

const std::string kScramOffer = authRequest(10, std::string("SCRAM-SHA-256") + '\0' + '\0');

// AuthenticationSASLContinue answering the SASLInitialResponse `message` ("n,,n=,r=" + the
// client's nonce ends it): server-first with a new salt and `iterations`, the most the sidecar
// accepts by default. Deriving its keys takes seconds.
ScriptedServer::Reply serverFirst(int iterations = 10'000'000) {
  return [iterations](const std::string& message) {
    const std::string nonce = message.substr(message.rfind(",r=") + 3);
    return authRequest(
        11, "r=" + nonce + "scripted,s=c2NyaXB0ZWQtc2FsdA==,i=" + std::to_string(iterations));
  };
}

// A sidecar (one worker) for payments-db, the real server, and scripted-db, `server`, on
// `scripted_port`.
SidecarOptions beside(const ScriptedServer& server, int scripted_port) {
  SidecarOptions o;
  o.policy.scripted_port = server.port();
  o.extra_args = {"--workers", "1", "--listen",
                  "127.0.0.1:" + std::to_string(scripted_port) + "=scripted-db"};
  return o;
}

// A client that sends its startup packet to 127.0.0.1:`port` and then waits without reading;
// hangs up when destroyed.
class WaitingClient {
 public:
  explicit WaitingClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    std::string params;
    for (const char* text : {"user", "job", "database", "payments", ""}) {
      params += text;
      params += '\0';
    }
    std::string startup = be32(static_cast<uint32_t>(params.size() + 8)) + be32(196608) + params;
    sent_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            ::write(fd_, startup.data(), startup.size()) == static_cast<ssize_t>(startup.size());
  }
  ~WaitingClient() { ::close(fd_); }
  WaitingClient(const WaitingClient&) = delete;
  WaitingClient& operator=(const WaitingClient&) = delete;
  bool sent() const { return sent_; }

 private:
  int fd_;
  bool sent_ = false;
};

}  // namespace

// A cleartext password, or md5 of it with a salt the asker picks (as good as the password to
// whoever asked), went to any server that asked: over tls: require or disable, that is anyone
// in the path.
TEST_CASE("a password request from a server no certificate proved gets no password") {
  auto& pg = sharedPg();
  for (const auto& [name, request] : std::vector<std::pair<std::string, std::string>>{
           {"a cleartext", authRequest(3)}, {"an md5", authRequest(5, "salt")}}) {
    ScriptedServer server(request, {loggedIn()});
    Sidecar sidecar(pg, towards(server));
    REQUIRE(sidecar.ready());
    auto r = sidecar.psql("select 1;");
    INFO(name << "\n" << r.out << r.err << sidecar.log());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, ContainsSubstring("asked for " + name +
                                        " password, which the sidecar "
                                        "sends only to a server whose certificate it "
                                        "verified"));
    CHECK(server.receivedTypes().empty());
    CHECK(server.receivedBytes().find("apppw") == std::string::npos);
  }
}

// A server that answered the client's first SCRAM message (or its last) with AuthenticationOk
// was taken as logged in: it never proved it knows the password.
TEST_CASE("a SCRAM exchange the server does not finish is refused") {
  auto& pg = sharedPg();
  ScriptedServer server(kScramOffer, {loggedIn(), emptyResult(), emptyResult()});
  Sidecar sidecar(pg, towards(server));
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select 1;");
  INFO(r.out << r.err << sidecar.log());
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, ContainsSubstring("ended SCRAM authentication without proving it knows "
                                      "the password"));
  CHECK(server.receivedTypes() == "p");  // the SASLInitialResponse, and no query
}

TEST_CASE("a second password request is refused") {
  auto& pg = sharedPg();
  ScriptedServer server(kScramOffer, {kScramOffer, loggedIn()});
  Sidecar sidecar(pg, towards(server));
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql("select 1;");
  INFO(r.out << r.err << sidecar.log());
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, ContainsSubstring("asked for a password a second time"));
  CHECK(server.receivedTypes() == "p");
}

// The keys of a SCRAM login are PBKDF2 with the server's iteration count, and the sidecar
// derived them on its worker's loop: a server asking for 10,000,000 (or a new salt at every
// login) stalled every other session of that worker for seconds. They are derived on the thread
// pool now: the other session's statements are answered while the derivation is in flight (the
// scripted server has not been sent client-final yet).
TEST_CASE("a SCRAM login with a huge iteration count does not stall the worker's other sessions") {
  auto& pg = sharedPg();
  ScriptedServer server(kScramOffer, {serverFirst()});
  const int scripted_port = freePort();
  Sidecar sidecar(pg, beside(server, scripted_port));
  REQUIRE(sidecar.ready());
  REQUIRE(waitPort(scripted_port));
  WaitingClient waiting(scripted_port);
  REQUIRE(waiting.sent());
  REQUIRE(eventually([&] { return server.repliesSent() == 1; }));  // server-first is out
  auto r = sidecar.psql("select 'answered ' || count(*) from cards;\nselect 'and again';\n");
  const std::string seen_by_server = server.receivedTypes();
  INFO(r.out << r.err << sidecar.log());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("answered ") && ContainsSubstring("and again"));
  CHECK(seen_by_server == "p");  // the SASLInitialResponse only: still deriving
}

// The session that waits for its keys can end under the derivation (here its client hangs up):
// the derivation stops, its result is dropped with the session, the exchange goes no further,
// and the sidecar goes on serving and shuts down cleanly (the ASan build checks the memory).
TEST_CASE("a client that hangs up while its SCRAM keys are derived leaves the sidecar healthy") {
  auto& pg = sharedPg();
  ScriptedServer server(kScramOffer, {serverFirst()});
  const int scripted_port = freePort();
  Sidecar sidecar(pg, beside(server, scripted_port));
  REQUIRE(sidecar.ready());
  REQUIRE(waitPort(scripted_port));
  {
    WaitingClient waiting(scripted_port);
    REQUIRE(waiting.sent());
    REQUIRE(eventually([&] { return server.repliesSent() == 1; }));
  }
  CHECK(eventually([&] { return server.ended(); }));  // the sidecar closed its upstream
  auto r = sidecar.psql("select 'still serving';\n");
  INFO(r.out << r.err << sidecar.log());
  CHECK(r.out == "still serving\n");
  CHECK(server.receivedTypes() == "p");  // never client-final
  CHECK(sidecar.running());
  const int exit_code = sidecar.stop(SIGTERM, std::chrono::seconds(30)).value_or(-1000);
  INFO(sidecar.log());
  CHECK(exit_code == 0);
}

// A shutdown while a session's keys are derived ends the session and does not wait for the
// derivation to finish the exchange.
TEST_CASE("the sidecar shuts down cleanly while SCRAM keys are derived") {
  auto& pg = sharedPg();
  ScriptedServer server(kScramOffer, {serverFirst()});
  const int scripted_port = freePort();
  SidecarOptions o = beside(server, scripted_port);
  o.extra_args.insert(o.extra_args.end(), {"--drain-seconds", "0"});
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  REQUIRE(waitPort(scripted_port));
  WaitingClient waiting(scripted_port);
  REQUIRE(waiting.sent());
  REQUIRE(eventually([&] { return server.repliesSent() == 1; }));
  const int exit_code = sidecar.stop(SIGTERM, std::chrono::seconds(30)).value_or(-1000);
  INFO(sidecar.log());
  CHECK(exit_code == 0);
  CHECK(server.receivedTypes() == "p");
}

// PostgreSQL sends Authentication, BackendKeyData and NegotiateProtocolVersion only while
// logging in. The sidecar forwarded them later too: a second BackendKeyData would have pointed
// the client's cancels at another backend.
TEST_CASE("a login message from the server after login closes the session") {
  auto& pg = sharedPg();
  for (const std::string& reply :
       {backendMessage('K', be32(1) + be32(2)), backendMessage('R', be32(0)),
        backendMessage('v', be32(0) + be32(0))}) {
    ScriptedServer server(loggedIn(), {emptyResult(), reply});
    Sidecar sidecar(pg, towards(server));
    REQUIRE(sidecar.ready());
    auto r = sidecar.psql("select 1;");
    INFO(r.out << r.err << sidecar.log());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, ContainsSubstring("08P01") &&
                          ContainsSubstring(std::string("sent a login message ('") + reply[0] +
                                            "') after login"));
  }
}

// The cancel went to wherever the resource pointed when the cancel came, with that TLS
// setting: after a reload that moved payments-db to another server in clear, the real
// backend's cancel key went there in plain text and the statement ran on.
TEST_CASE("a cancel goes to the server its session logged in to, after a reload too") {
  auto& pg = sharedPg();
  Sidecar sidecar(pg);
  REQUIRE(sidecar.ready());
  ScriptedServer elsewhere(loggedIn(), {});
  PolicyOptions moved;
  moved.upstream_port = elsewhere.port();
  moved.upstream_tls = "disable";
  const std::string cred = (sidecar.dir().path() / "cred").string();
  const std::string policy = (sidecar.dir().path() / "policy.yaml").string();
  const std::string moved_policy =
      sidecar.dir().write("moved.yaml", standardPolicy(pg, cred, moved));
  const std::string log = (sidecar.dir().path() / "sidecar.log").string();
  auto r = sidecar.python(R"PY(
import os, shutil, signal, sys, threading, time
import psycopg2, psycopg2.errors
dsn, pid, policy, moved, log = sys.argv[1:6]
conn = psycopg2.connect(dsn)
cur = conn.cursor()
result = {}
def run():
    start = time.monotonic()
    try:
        cur.execute("select pg_sleep(30)")
        result["r"] = "not-cancelled"
    except psycopg2.errors.QueryCanceled:
        result["r"] = "cancelled %.1f" % (time.monotonic() - start)
    except Exception as e:
        result["r"] = "error " + type(e).__name__
t = threading.Thread(target=run)
t.start()
time.sleep(0.5)
shutil.copyfile(moved, policy)
os.kill(int(pid), signal.SIGHUP)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and open(log).read().count("policy loaded") < 2:
    time.sleep(0.1)
conn.cancel()
t.join(40)
print(result.get("r", "hung"))
)PY",
                          {std::to_string(sidecar.pid()), policy, moved_policy, log},
                          std::chrono::seconds(60));
  INFO(r.out << r.err << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("cancelled"));
  CHECK_FALSE(elsewhere.accepted());
}

// A client's close_notify was ignored: the session and its upstream backend stayed until the
// client closed TCP. PostgreSQL ends the session on it.
TEST_CASE("a client's TLS close_notify ends its session") {
  auto& pg = sharedPg();
  SidecarOptions o;
  o.client_tls = true;
  Sidecar sidecar(pg, o);
  REQUIRE(sidecar.ready());
  auto r =
      sidecar.python(R"PY(
import socket, ssl, struct, sys, time
port, ca = int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(struct.pack("!II", 8, 80877103))
assert s.recv(1) == b"S"
t = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
body = struct.pack("!I", 196608) + b"user\0job\0database\0payments\0application_name\0tg_close_notify\0\0"
t.sendall(struct.pack("!I", len(body) + 4) + body)
buf = b""
while b"Z\0\0\0\x05" not in buf:
    chunk = t.recv(65536)
    if not chunk:
        break
    buf += chunk
print("logged-in" if b"Z\0\0\0\x05" in buf else "no-login")
t.settimeout(5)
try:
    t.unwrap()
    print("answered")
except Exception as e:
    print("unwrap", type(e).__name__)
# The socket stays open: only the close_notify may end the session (and its backend).
import psycopg2
check = psycopg2.connect(sys.argv[1])
check.autocommit = True
left = None
for _ in range(50):
    cur = check.cursor()
    cur.execute("select count(*) from pg_stat_activity where application_name = 'tg_close_notify'")
    left = cur.fetchone()[0]
    if left == 0:
        break
    time.sleep(0.1)
print("sessions left", left)
t.close()
)PY",
                     {std::to_string(sidecar.port()), sidecar.caCert()}, std::chrono::seconds(30));
  INFO(r.out << r.err << sidecar.log());
  CHECK_THAT(r.out, ContainsSubstring("logged-in") && ContainsSubstring("answered"));
  CHECK_THAT(r.out, ContainsSubstring("sessions left 0"));
}
