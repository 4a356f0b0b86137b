// The real tollgate-controlplane with `audit: {backend: postgres}` against a real PostgreSQL:
// records land in (and are read back from) PostgreSQL across a restart; bad DSNs stop startup.
#include <catch2/catch_test_macros.hpp>

#include <fstream>

#include "tests/integration/controlplane_harness.h"

using namespace tollgate;
using namespace tollgate::testing;

namespace {

constexpr char kAuditRole[] = "cp_audit";
constexpr char kAuditPassword[] = "audit-Pw-7f3k9Q";  // must never reach a log line
constexpr char kAuditDb[] = "tollgate_audit";
constexpr char kBootstrap[] = "bootstrap-secret-pg-0123456789-abcdefghijkl";

// One PostgreSQL for this file, with a login role and a database for the audit trail; stopped
// when the binary exits (a server made with `new` and never deleted outlived every run).
PgServer& auditPg() {
  static PgServer pg;
  static const bool seeded = [] {
    pg.sqlOrThrow(std::string("CREATE ROLE ") + kAuditRole + " LOGIN PASSWORD '" + kAuditPassword +
                  "';\nCREATE DATABASE " + kAuditDb + " OWNER " + kAuditRole + ";\n");
    return true;
  }();
  (void)seeded;
  return pg;
}

// DSN over TCP with TLS verify-full and SCRAM, as a production deployment would use.
std::string auditDsn(const PgServer& pg, const std::string& password = kAuditPassword) {
  return "host=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=" + kAuditDb +
         " user=" + kAuditRole + " password=" + password +
         " sslmode=verify-full sslrootcert=" + pg.pki().ca_cert + " connect_timeout=10";
}

// A tollgate-controlplane process with TLS, a bootstrap token and the audit block given.
class PgAuditControlPlane {
 public:
  explicit PgAuditControlPlane(const std::string& audit_yaml)
      : pki_(writeTestPki(dir_.path() / "pki")), port_(freePort()) {
    dir_.write("bootstrap-token", std::string(kBootstrap) + "\n");
    const std::string d = dir_.path().string();
    config_ =
        dir_.write("controlplane.yaml",
                   "grpc:\n  address: 127.0.0.1\n  port: " + std::to_string(port_) +
                       "\n  tls: {cert: " + pki_.server_cert + ", key: " + pki_.server_key +
                       "}\nadmin: {address: 127.0.0.1, port: 0}\ndataDir: " + d +
                       "/data\nreplicaName: pg-replica-1\nidentity:\n  bootstrapTokenFile: " + d +
                       "/bootstrap-token\n" + audit_yaml);
  }

  // Starts the binary; true once the gRPC port accepts connections (with `wait_ready`).
  bool start(std::vector<std::string> extra_flags = {}, bool wait_ready = true) {
    std::vector<std::string> argv = {binPath("tollgate-controlplane"), "--config", config_};
    for (auto& f : extra_flags) argv.push_back(std::move(f));
    proc_ = std::make_unique<Process>(
        argv, (dir_.path() / ("cp-" + std::to_string(++starts_) + ".log")).string());
    return !wait_ready || waitPort(port_, std::chrono::seconds(20));
  }
  std::optional<int> stop(int sig = SIGTERM) { return proc_->stop(sig); }
  std::optional<int> waitExit() { return proc_->wait(std::chrono::seconds(30)); }
  std::string log() const { return proc_ ? proc_->log() : ""; }
  // Every log this test's processes wrote.
  std::string allLogs() const {
    std::string out;
    for (int i = 1; i <= starts_; ++i) {
      out += readWholeFile((dir_.path() / ("cp-" + std::to_string(i) + ".log")).string());
    }
    return out;
  }
  const TempDir& dir() const { return dir_; }

  std::unique_ptr<v1::AuditService::Stub> audit() const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readWholeFile(pki_.ca_cert);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return v1::AuditService::NewStub(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                                               grpc::SslCredentials(ssl), args));
  }

 private:
  TempDir dir_;
  TestPki pki_;
  int port_;
  std::string config_;
  std::unique_ptr<Process> proc_;
  int starts_ = 0;
};

std::vector<v1::AuditEvent> lifecycleEvents(const PgAuditControlPlane& cp) {
  v1::SearchAuditRequest req;
  req.add_types(v1::EVENT_AUDIT_STARTED);
  req.add_types(v1::EVENT_AUDIT_STOPPED);
  req.set_limit(1000);
  v1::SearchAuditResponse resp;
  auto ctx = authed(kBootstrap);
  auto st = cp.audit()->Search(ctx.get(), req, &resp);
  if (!st.ok()) FAIL("audit search: " << st.error_message());
  return {resp.events().begin(), resp.events().end()};
}

v1::VerifyAuditResponse verifyAll(const PgAuditControlPlane& cp) {
  v1::VerifyAuditResponse resp;
  auto ctx = authed(kBootstrap);
  auto st = cp.audit()->Verify(ctx.get(), v1::VerifyAuditRequest(), &resp);
  if (!st.ok()) FAIL("audit verify: " << st.error_message());
  return resp;
}

// psql as the superuser in the audit database.
std::string pgQuery(const std::string& sql) { return auditPg().sqlOrThrow(sql, kAuditDb); }

std::string auditBlock(const std::string& dsn) {
  return "audit:\n  backend: postgres\n  dsn: \"" + dsn +
         "\"\n  createKey: true\n  checkpointEvery: 2\n";
}

}  // namespace

TEST_CASE("the control plane keeps its audit trail in PostgreSQL across a restart",
          "[controlplane][pg-audit]") {
  PgServer& pg = auditPg();
  pgQuery("DROP TABLE IF EXISTS audit_rules, audit_checkpoints, audit_records, audit_meta;");
  PgAuditControlPlane cp(auditBlock(auditDsn(pg)));
  REQUIRE(cp.start());
  INFO(cp.log());

  // The start record is served from PostgreSQL through AuditService.
  std::vector<v1::AuditEvent> events;
  REQUIRE(eventually([&] {
    events = lifecycleEvents(cp);
    return !events.empty();
  }));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type() == v1::EVENT_AUDIT_STARTED);
  CHECK(events[0].location().source() == "controlplane/pg-replica-1");
  const uint64_t first_seq = events[0].sequence();

  // ... and psql sees it in the tables, written by this process and no SQLite file exists.
  const std::string started = std::to_string(static_cast<int>(v1::EVENT_AUDIT_STARTED));
  CHECK(pgQuery("SELECT count(*) FROM audit_records WHERE event_type = " + started +
                " AND source = 'controlplane/pg-replica-1';") == "1\n");
  CHECK_FALSE(std::filesystem::exists(cp.dir().path() / "data" / "audit.db"));
  CHECK(std::filesystem::exists(cp.dir().path() / "data" / "audit-signing-key.pem"));

  auto v = verifyAll(cp);
  CHECK(v.ok());
  CHECK(v.records_checked() >= 1);

  // A clean stop appends EVENT_AUDIT_STOPPED; a restart appends to the same chain.
  REQUIRE(cp.stop() == 0);
  REQUIRE(cp.start());
  REQUIRE(eventually([&] {
    events = lifecycleEvents(cp);
    return events.size() >= 3;
  }));
  REQUIRE(events.size() == 3);
  CHECK(events[0].sequence() == first_seq);
  CHECK(events[1].type() == v1::EVENT_AUDIT_STOPPED);
  CHECK(events[2].type() == v1::EVENT_AUDIT_STARTED);
  CHECK(events[2].sequence() > events[1].sequence());
  CHECK(pgQuery("SELECT count(*) FROM audit_records WHERE event_type = " + started + ";") == "2\n");
  // checkpointEvery: 2 -> signed checkpoints were written to PostgreSQL and verify checks them.
  CHECK(std::stoi(pgQuery("SELECT count(*) FROM audit_checkpoints;")) >= 1);
  v = verifyAll(cp);
  CHECK(v.ok());
  CHECK(v.checkpoints_checked() >= 1);
  REQUIRE(cp.stop() == 0);

  // The DSN's password is in no log line; the backend is named by host and database.
  std::string logs = cp.allLogs();
  CHECK(logs.find(kAuditPassword) == std::string::npos);
  CHECK(logs.find("postgres host=127.0.0.1 port=" + std::to_string(pg.port()) +
                  " dbname=" + kAuditDb + " user=" + kAuditRole) != std::string::npos);
}

TEST_CASE("a PostgreSQL record edited behind the control plane's back fails Verify",
          "[controlplane][pg-audit]") {
  PgServer& pg = auditPg();
  pgQuery("DROP TABLE IF EXISTS audit_rules, audit_checkpoints, audit_records, audit_meta;");
  PgAuditControlPlane cp(auditBlock(auditDsn(pg)));
  REQUIRE(cp.start());
  INFO(cp.log());
  REQUIRE(eventually([&] { return !lifecycleEvents(cp).empty(); }));
  REQUIRE(verifyAll(cp).ok());
  // An attacker with superuser rights bypasses the triggers and rewrites the detail text.
  pgQuery(
      "SET session_replication_role = replica;\n"
      "UPDATE audit_records SET payload = overlay(payload placing '\\x58'::bytea from 12 for 1)"
      " WHERE seq = (SELECT min(seq) FROM audit_records);");
  auto v = verifyAll(cp);
  CHECK_FALSE(v.ok());
  REQUIRE(cp.stop() == 0);
}

TEST_CASE("a PostgreSQL audit store that cannot be used stops startup with exit code 1",
          "[controlplane][pg-audit]") {
  PgServer& pg = auditPg();
  struct Case {
    const char* name;
    std::string dsn;  // "-": none in the file, only createKey
    std::vector<std::string> flags;
    const char* reason;  // expected in the log
  };
  const int closed_port = freePort();
  const std::vector<Case> cases = {
      {"wrong password", auditDsn(pg, "wrong-Pw-55ee"), {}, "password authentication failed"},
      {"nothing listening",
       "host=127.0.0.1 port=" + std::to_string(closed_port) + " dbname=" + kAuditDb +
           " user=" + kAuditRole + " password=" + kAuditPassword,
       {},
       "cannot connect"},
      {"unknown database (DSN given by flag)",
       "-",
       {"--audit-backend", "postgres", "--audit-dsn",
        "host=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=no_such_db user=" +
            kAuditRole + " password=" + kAuditPassword + " sslmode=disable"},
       "does not exist"},
      {"malformed DSN",
       "host=127.0.0.1 password " + std::string(kAuditPassword),
       {},
       "cannot be parsed"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      PgAuditControlPlane cp(c.dsn == "-" ? "audit: {createKey: true}\n" : auditBlock(c.dsn));
      cp.start(c.flags, false);
      auto code = cp.waitExit();
      std::string log = cp.log();
      INFO(log);
      REQUIRE(code.has_value());
      CHECK(*code == 1);
      CHECK(log.find("control plane failed to start") != std::string::npos);
      CHECK(log.find("PostgreSQL") != std::string::npos);
      CHECK(log.find(c.reason) != std::string::npos);
      CHECK(log.find(kAuditPassword) == std::string::npos);
      CHECK(log.find("wrong-Pw-55ee") == std::string::npos);
    }
  }
}
