// Starts the real tollgate-sidecar and tollgate-controlplane binaries and checks health,
// metrics, clean shutdown and bad-config behaviour.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/support/test_support.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::Matches;
using namespace tollgate::testing;

namespace {

void checkAdminEndpoints(int admin_port, const std::string& component) {
  REQUIRE(waitHealthy(admin_port));
  auto health = httpGet(admin_port, "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
  // /healthz answers from the moment the admin server listens; /readyz says "starting" until
  // the listeners and workers are up (a loaded machine can see that).
  CHECK(eventually([&] { return httpGet(admin_port, "/readyz").status == 200; }));
  auto metrics = httpGet(admin_port, "/metrics");
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.body, ContainsSubstring("# TYPE tollgate_build_info gauge"));
  CHECK_THAT(metrics.body, ContainsSubstring("tollgate_build_info{component=\"" + component));
  CHECK_THAT(metrics.body, ContainsSubstring("process_start_time_seconds"));
  CHECK(httpGet(admin_port, "/nope").status == 404);
}

}  // namespace

TEST_CASE("sidecar serves health and metrics and stops on SIGTERM") {
  TempDir dir;
  int admin = freePort();
  Process sidecar(
      {binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin), "--log-format", "json"},
      (dir.path() / "sidecar.log").string());
  checkAdminEndpoints(admin, "sidecar");
  auto code = sidecar.stop(SIGTERM);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  std::string log = sidecar.log();
  CHECK_THAT(log, ContainsSubstring("\"msg\":\"sidecar shutting down\""));
  CHECK_THAT(log, ContainsSubstring("\"msg\":\"sidecar stopped\""));
}

// Red-team round 7: one client sending a header byte at a time (or ten that sent nothing) held
// the admin server, and the kubelet's probes timed out.
TEST_CASE("slow or silent admin clients do not hold up the health probes") {
  TempDir dir;
  int admin = freePort();
  Process sidecar({binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin)},
                  (dir.path() / "sidecar.log").string());
  REQUIRE(waitHealthy(admin));
  REQUIRE(eventually([&] { return httpGet(admin, "/readyz").status == 200; }));
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(admin));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    if (i == 0) REQUIRE(::send(fd, "GET /readyz HTTP/1.1\r\n", 22, 0) == 22);  // never ends
    idle.push_back(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  auto ready = httpGet(admin, "/readyz");
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(ready.status == 200);
  CHECK(took < std::chrono::milliseconds(500));
  for (int fd : idle) ::close(fd);
}

TEST_CASE("sidecar reads its YAML config and SIGINT stops it") {
  TempDir dir;
  int admin = freePort();
  auto cfg =
      dir.write("sidecar.yaml", "admin:\n  address: 127.0.0.1\n  port: " + std::to_string(admin) +
                                    "\nlog:\n  level: debug\n  format: text\nworkers: 2\n");
  Process sidecar({binPath("tollgate-sidecar"), "--config", cfg},
                  (dir.path() / "sidecar.log").string());
  checkAdminEndpoints(admin, "sidecar");
  auto code = sidecar.stop(SIGINT);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK_THAT(sidecar.log(), ContainsSubstring("workers=2"));
}

TEST_CASE("control plane serves gRPC health, admin health and metrics") {
  TempDir dir;
  int admin = freePort();
  int grpc_port = freePort();
  Process cp(
      {binPath("tollgate-controlplane"), "--admin-port", std::to_string(admin), "--grpc-address",
       "127.0.0.1:" + std::to_string(grpc_port), "--data-dir", dir.path().string()},
      (dir.path() / "cp.log").string());
  checkAdminEndpoints(admin, "controlplane");
  auto health =
      run({binPath("tollgatectl"), "health", "--server", "127.0.0.1:" + std::to_string(grpc_port)});
  CHECK(health.exit_code == 0);
  CHECK_THAT(health.out, ContainsSubstring("SERVING"));
  auto code = cp.stop(SIGTERM);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK_THAT(cp.log(), ContainsSubstring("control plane stopped"));
  // Once stopped, the health check fails with a clear message instead of hanging.
  auto after =
      run({binPath("tollgatectl"), "health", "--server", "127.0.0.1:" + std::to_string(grpc_port)});
  CHECK(after.exit_code == 1);
}

TEST_CASE("broken config files give a one-line error naming file, line and column") {
  TempDir dir;
  struct Case {
    std::string binary;
    std::string yaml;
    std::string expect;  // regex for the whole stderr
  };
  const Case cases[] = {
      {"tollgate-sidecar", "admin:\n  port: 15020\n  bogus: 1\n",
       "tollgate-sidecar: .*/bad.yaml:3:3: unknown key 'bogus' in admin .*\n"},
      {"tollgate-sidecar", "workers: many\n",
       "tollgate-sidecar: .*/bad.yaml:1:10: .*workers must be an integer, got 'many'\n"},
      {"tollgate-sidecar", "listeners:\n  - {address: 127.0.0.1, port: 99999, resource: db}\n",
       "tollgate-sidecar: .*/bad.yaml:2:.*port must be between 1 and 65535.*\n"},
      {"tollgate-sidecar", "admin: [\n", "tollgate-sidecar: .*/bad.yaml:2:1: YAML syntax: .*\n"},
      {"tollgate-controlplane", "grpc:\n  port: 15090\n  tls: {cert: a.pem}\n",
       "tollgate-controlplane: .*/bad.yaml:3:.*missing required key 'key'.*\n"},
      {"tollgate-controlplane", "log:\n  level: loud\n",
       "tollgate-controlplane: .*/bad.yaml:2:10: log.level must be one of "
       "debug\\|info\\|warn\\|error, got 'loud'\n"},
  };
  for (const auto& c : cases) {
    INFO(c.binary << " with " << c.yaml);
    auto path = dir.write("bad.yaml", c.yaml);
    auto r = run({binPath(c.binary), "--config", path, "--admin-port", "0"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Matches(c.expect));
  }
}

TEST_CASE("missing config file and bad flags are clear errors") {
  auto missing = run({binPath("tollgate-sidecar"), "--config", "/nonexistent/tollgate.yaml"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err == "tollgate-sidecar: /nonexistent/tollgate.yaml: cannot open file\n");
  auto flag = run({binPath("tollgate-controlplane"), "--bogus"});
  CHECK(flag.exit_code == 2);
  CHECK(flag.err == "tollgate-controlplane: unknown flag '--bogus'\n");
  auto listen = run({binPath("tollgate-sidecar"), "--listen", "6432"});
  CHECK(listen.exit_code == 2);
  CHECK_THAT(listen.err, ContainsSubstring("--listen must look like 127.0.0.1:6432=RESOURCE"));
  auto insecure = run({binPath("tollgate-controlplane"), "--grpc-address", "0.0.0.0:15090"});
  CHECK(insecure.exit_code == 2);
  CHECK_THAT(insecure.err, ContainsSubstring("requires TLS"));
  // A DNS name is not loopback, even one that starts with "127.".
  auto named = run({binPath("tollgate-controlplane"), "--grpc-address", "127.example.com:15090",
                    "--check-config"});
  CHECK(named.exit_code == 2);
  CHECK_THAT(named.err, ContainsSubstring("requires TLS"));
}

// Review: the README sent readers to --help for the config file, which lists only flags.
TEST_CASE("the sidecar's --help points to the reference of its config file") {
  auto help = run({binPath("tollgate-sidecar"), "--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, ContainsSubstring("--listen"));
  CHECK_THAT(help.out, ContainsSubstring("Every config-file key (--config)"));
  CHECK_THAT(help.out, ContainsSubstring("docs/sidecar.md"));
}

TEST_CASE("a port already in use fails start-up with exit 1 and names the address") {
  TempDir dir;
  int admin = freePort();
  Process first({binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin)},
                (dir.path() / "first.log").string());
  REQUIRE(waitHealthy(admin));
  auto second = run({binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin)});
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, ContainsSubstring("127.0.0.1:" + std::to_string(admin)));
}

// Review (session 24): an explicit listener on 0.0.0.0 gave every host that reached it the
// sidecar's access and injected credentials, without a word.
namespace {

// A policy with one resource, db, whose server is not there (nothing connects to it here).
std::string oneResourcePolicy(const TempDir& dir) {
  auto cred = dir.write("cred", "app:pw\n");
  return dir.write("policy.yaml",
                   "version: 1\nresources:\n  - name: db\n    protocol: postgres\n"
                   "    upstream: {host: 127.0.0.1, port: 1, tls: disable}\n"
                   "    credentials: {file: " +
                       cred + "}\n");
}

}  // namespace

TEST_CASE("an explicit listener other hosts can reach is warned about, a loopback one is not") {
  TempDir dir;
  int admin = freePort();
  auto policy = oneResourcePolicy(dir);
  const std::string wide = "0.0.0.0:" + std::to_string(freePort());
  const std::string local = "127.0.0.1:" + std::to_string(freePort());
  Process sidecar({binPath("tollgate-sidecar"), "--admin-port", std::to_string(admin), "--policy",
                   policy, "--events", (dir.path() / "events.jsonl").string(), "--listen",
                   wide + "=db", "--listen", local + "=db"},
                  (dir.path() / "sidecar.log").string());
  checkAdminEndpoints(admin, "sidecar");
  INFO(sidecar.log());
  CHECK_THAT(sidecar.log(), ContainsSubstring("other hosts can reach"));
  CHECK_THAT(sidecar.log(), ContainsSubstring("address=" + wide));
  // Once: for the wide listener only.
  const std::string log = sidecar.log();
  const size_t first = log.find("other hosts can reach");
  CHECK(log.find("other hosts can reach", first + 1) == std::string::npos);
  CHECK(sidecar.stop(SIGTERM).value_or(-1) == 0);
}
