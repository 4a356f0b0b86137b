// The `audit:` config block and --audit-* flags: backend switch, DSN handling, strict errors.
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

#include "controlplane/config.h"
#include "tests/controlplane/cp_testing.h"
#include "tests/support/test_support.h"

using namespace tollgate;
using namespace tollgate::controlplane;
using tollgate::testing::TempDir;

namespace {

// Loads `yaml` (when non-empty) as the --config file, followed by `flags`.
absl::StatusOr<ControlPlaneConfig> load(const TempDir& dir, const std::string& yaml,
                                        std::vector<std::string> flags = {}) {
  std::vector<std::string> args = {"tollgate-controlplane"};
  if (!yaml.empty()) {
    args.push_back("--config");
    args.push_back(dir.write("cp.yaml", yaml));
  }
  for (auto& f : flags) args.push_back(f);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return loadControlPlaneConfig(static_cast<int>(argv.size()), argv.data());
}

std::string errorOf(const absl::StatusOr<ControlPlaneConfig>& r) {
  return r.ok() ? std::string("(no error)") : std::string(r.status().message());
}

}  // namespace

TEST_CASE("without an audit block the SQLite store in dataDir is used with its defaults",
          "[config][audit]") {
  TempDir dir;
  auto cfg = load(dir, "dataDir: /tmp/x\n");
  REQUIRE(cfg.ok());
  CHECK(cfg->audit.backend == AuditBackend::kSqlite);
  CHECK(cfg->audit.dsn.empty());
  CHECK(cfg->audit.key_file.empty());
  CHECK(cfg->audit.createKey());
  CHECK(cfg->audit.retention == std::chrono::hours(24 * 366));
  CHECK(cfg->audit.checkpoint_every == 1000);
}

TEST_CASE("a postgres audit block is read whole", "[config][audit]") {
  TempDir dir;
  auto cfg = load(dir,
                  "audit:\n"
                  "  backend: postgres\n"
                  "  dsn: \"host=db.internal dbname=audit user=cp password=pw\"\n"
                  "  keyFile: /etc/tollgate/audit-key.pem\n"
                  "  retention: 9000h\n"
                  "  checkpointEvery: 50\n");
  REQUIRE(cfg.ok());
  CHECK(cfg->audit.backend == AuditBackend::kPostgres);
  CHECK(cfg->audit.dsn == "host=db.internal dbname=audit user=cp password=pw");
  CHECK(cfg->audit.key_file == "/etc/tollgate/audit-key.pem");
  CHECK_FALSE(cfg->audit.createKey());  // shared trail: the key must be provisioned
  CHECK(cfg->audit.retention == std::chrono::hours(9000));
  CHECK(cfg->audit.checkpoint_every == 50);

  auto created = load(dir, "audit: {backend: postgres, dsn: \"host=db\", createKey: true}\n");
  REQUIRE(created.ok());
  CHECK(created->audit.createKey());
  auto sqlite_no_create = load(dir, "audit: {createKey: false}\n");
  REQUIRE(sqlite_no_create.ok());
  CHECK_FALSE(sqlite_no_create->audit.createKey());
}

TEST_CASE("bad audit blocks are refused with file:line:column", "[config][audit]") {
  struct Case {
    const char* name;
    const char* yaml;
    const char* position;  // ":line:column:" expected after the file name
    const char* words;     // expected in the message
  };
  const Case cases[] = {
      {"unknown backend", "audit:\n  backend: mysql\n", ":2:12:", "backend"},
      {"postgres without dsn", "audit:\n  backend: postgres\n", ":2:12:", "audit.dsn"},
      {"dsn with the sqlite backend", "audit:\n  dsn: \"host=db\"\n", ":2:8:", "sqlite"},
      {"dsn with sqlite named", "audit:\n  backend: sqlite\n  dsn: host=db\n", ":3:8:", "sqlite"},
      {"empty dsn", "audit:\n  backend: postgres\n  dsn: \"\"\n", ":3:8:", "empty"},
      {"unknown key", "audit:\n  backend: sqlite\n  dns: host=db\n", ":3:3:", "dns"},
      {"createKey not a boolean", "audit:\n  createKey: maybe\n", ":2:14:", "createKey"},
      {"retention under an hour", "audit:\n  retention: 30m\n", ":2:14:", "at least 1h"},
      {"checkpointEvery negative", "audit:\n  checkpointEvery: -1\n", ":2:20:", "checkpointEvery"},
      {"audit not a mapping", "audit: postgres\n", ":1:8:", "audit"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      TempDir dir;
      auto r = load(dir, c.yaml);
      std::string err = errorOf(r);
      INFO(err);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK(err.find("cp.yaml" + std::string(c.position)) != std::string::npos);
      CHECK(err.find(c.words) != std::string::npos);
    }
  }
}

// Review (session 22): --check-config accepted a URL the webhook client then refused at start.
TEST_CASE("an approvals webhook URL that is not http(s) is refused with its position", "[config]") {
  TempDir dir;
  auto r = load(dir, "approvals:\n  webhookUrl: ftp://approvals.example/hook\n");
  std::string err = errorOf(r);
  INFO(err);
  REQUIRE_FALSE(r.ok());
  CHECK(err.find("cp.yaml:2:15:") != std::string::npos);
  CHECK(err.find("http:// or https://") != std::string::npos);
  CHECK(load(dir, "approvals:\n  webhookUrl: https://approvals.example/hook\n").ok());
}

TEST_CASE("--audit-backend and --audit-dsn override the file and are checked together",
          "[config][audit]") {
  TempDir dir;
  SECTION("flags alone select postgres") {
    auto r = load(dir, "", {"--audit-backend", "postgres", "--audit-dsn", "host=db dbname=a"});
    REQUIRE(r.ok());
    CHECK(r->audit.backend == AuditBackend::kPostgres);
    CHECK(r->audit.dsn == "host=db dbname=a");
  }
  SECTION("the file names the backend, the flag the dsn") {
    auto r = load(dir, "audit: {backend: postgres}\n", {"--audit-dsn", "host=db"});
    REQUIRE(r.ok());
    CHECK(r->audit.dsn == "host=db");
  }
  SECTION("the flag's dsn replaces the file's") {
    auto r = load(dir, "audit: {backend: postgres, dsn: \"host=old\"}\n", {"--audit-dsn=host=new"});
    REQUIRE(r.ok());
    CHECK(r->audit.dsn == "host=new");
  }
  SECTION("--audit-backend sqlite over a postgres file with a dsn names the conflict") {
    auto r = load(dir, "audit:\n  backend: postgres\n  dsn: \"host=db\"\n",
                  {"--audit-backend", "sqlite"});
    REQUIRE_FALSE(r.ok());
    CHECK(errorOf(r).find("cp.yaml:3:8:") != std::string::npos);
  }
  SECTION("postgres by flag without any dsn") {
    auto r = load(dir, "", {"--audit-backend", "postgres"});
    REQUIRE_FALSE(r.ok());
    CHECK(errorOf(r).find("--audit-dsn") != std::string::npos);
  }
  SECTION("an unknown backend by flag") {
    auto r = load(dir, "", {"--audit-backend", "mongo"});
    REQUIRE_FALSE(r.ok());
    CHECK(errorOf(r) == "--audit-backend must be sqlite or postgres, got 'mongo'");
  }
  SECTION("an empty dsn by flag") {
    auto r = load(dir, "", {"--audit-backend", "postgres", "--audit-dsn", ""});
    REQUIRE_FALSE(r.ok());
    CHECK(errorOf(r).find("must not be empty") != std::string::npos);
  }
}

TEST_CASE("a DSN is described by host and database, never by its password", "[config][audit]") {
  struct Case {
    const char* dsn;
    const char* description;
  };
  const Case cases[] = {
      {"host=db.internal port=5433 dbname=audit user=cp password=s3cr3t-pw",
       "host=db.internal port=5433 dbname=audit user=cp"},
      {"postgresql://cp:s3cr3t-pw@db.internal:5433/audit?sslmode=verify-full",
       "host=db.internal port=5433 dbname=audit user=cp"},
      {"dbname=audit password=s3cr3t-pw", "dbname=audit"},
      {"password=s3cr3t-pw", "(libpq defaults)"},
  };
  for (const auto& c : cases) {
    auto d = describePgDsn(c.dsn);
    REQUIRE(d.ok());
    CHECK(*d == c.description);
  }
  // libpq's own parse error quotes the text; ours must not.
  auto bad = describePgDsn("host=db password s3cr3t-pw");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("s3cr3t") == std::string::npos);
  CHECK(std::string(bad.status().message()).find("cannot be parsed") != std::string::npos);
}

TEST_CASE("redactPgDsn removes the password and the whole DSN from messages", "[config][audit]") {
  const std::string dsn = "host=db user=cp password=s3cr3t-pw";
  CHECK(redactPgDsn("failed for s3cr3t-pw and again s3cr3t-pw", dsn) ==
        "failed for *** and again ***");
  CHECK(redactPgDsn("bad conninfo '" + dsn + "'", dsn) == "bad conninfo '***'");
  CHECK(redactPgDsn("nothing secret here", dsn) == "nothing secret here");
  CHECK(redactPgDsn("uri postgresql://cp:pw-9@h/d", "postgresql://cp:pw-9@h/d") == "uri ***");
}

TEST_CASE("an unreachable PostgreSQL audit store fails start with host and database named",
          "[config][audit]") {
  TempDir dir;
  const int port = tollgate::testing::freePort();  // nothing listens there
  core::ControlPlaneOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.audit_pg_dsn = "host=127.0.0.1 port=" + std::to_string(port) +
                         " dbname=audit user=cp password=s3cr3t-pw connect_timeout=5";
  options.audit_create_key = true;
  auto auth = identity::Authenticator::createWithSources({}, {}, systemClock());
  REQUIRE(auth.ok());
  auto cp = core::ControlPlane::create(options, *std::move(auth));
  REQUIRE_FALSE(cp.ok());
  std::string msg(cp.status().message());
  INFO(msg);
  CHECK(cp.status().code() == absl::StatusCode::kUnavailable);
  CHECK(msg.find("PostgreSQL audit store (host=127.0.0.1 port=" + std::to_string(port) +
                 " dbname=audit user=cp)") != std::string::npos);
  CHECK(msg.find("s3cr3t") == std::string::npos);
}

TEST_CASE("a missing checkpoint key with createKey false refuses to start", "[config][audit]") {
  TempDir dir;
  core::ControlPlaneOptions options;
  options.data_dir = (dir.path() / "data").string();
  options.audit_key_path = (dir.path() / "absent-key.pem").string();
  options.audit_create_key = false;
  auto auth = identity::Authenticator::createWithSources({}, {}, systemClock());
  REQUIRE(auth.ok());
  auto cp = core::ControlPlane::create(options, *std::move(auth));
  REQUIRE_FALSE(cp.ok());
  CHECK(cp.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(cp.status().message()).find("absent-key.pem") != std::string::npos);

  // With createKey the key is generated at the configured path and the store opens.
  options.audit_create_key = true;
  auto auth2 = identity::Authenticator::createWithSources({}, {}, systemClock());
  REQUIRE(auth2.ok());
  auto ok = core::ControlPlane::create(options, *std::move(auth2));
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  CHECK(std::filesystem::exists(options.audit_key_path));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "data" / "audit-signing-key.pem"));
}

TEST_CASE("the audit DSN can come from a file (a mounted Secret)", "[config][audit]") {
  TempDir dir;
  auto dsn_file = dir.write("dsn", "host=pg.example dbname=audit user=tg password=s3cret\n");
  auto cfg = load(dir, "audit: {backend: postgres, dsnFile: " + dsn_file + "}\n");
  REQUIRE(cfg.ok());
  CHECK(cfg->audit.dsn == "host=pg.example dbname=audit user=tg password=s3cret");

  auto both = load(dir, "audit: {backend: postgres, dsn: \"host=x\", dsnFile: " + dsn_file + "}\n");
  REQUIRE_FALSE(both.ok());
  CHECK(std::string(both.status().message()).find("not both") != std::string::npos);

  auto gone = load(dir, "audit: {backend: postgres, dsnFile: /nonexistent/dsn}\n");
  REQUIRE_FALSE(gone.ok());
  CHECK(std::string(gone.status().message()).find("cannot be read") != std::string::npos);
}
