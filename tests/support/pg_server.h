// A real PostgreSQL 15 server started by a test: private cluster, TLS on, SCRAM, loopback port.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/pki.h"
#include "tests/support/test_support.h"

namespace tollgate::testing {

// One row of the `cards` table createPaymentsFixture() fills. Card numbers are public test
// numbers; the look-alike columns hold values a PAN detector must leave alone.
struct SampleCard {
  int id = 0;
  std::string holder;
  std::string pan;         // text, as a person types it (may contain single spaces or dashes)
  std::string pan_vc;      // varchar(23): digits only
  int64_t pan_num = 0;     // bigint
  std::string pan_dec;     // numeric(19,0), decimal text
  std::string cvv;         // text
  int64_t created_ms = 0;  // bigint: 13-digit millisecond timestamp, Luhn-valid, not a PAN
  std::string phone;       // text: phone number with 11-12 digits, not a PAN
};
const std::vector<SampleCard>& sampleCards();

// The superuser and the application role the fixture creates.
inline constexpr char kPgSuperuser[] = "postgres";
inline constexpr char kPgSuperPassword[] = "super-secret-pw";
inline constexpr char kPgAppUser[] = "app";
inline constexpr char kPgAppDatabase[] = "payments";

// Where and how the server runs; the defaults are what every test got before these existed.
struct PgServerOptions {
  // listen_addresses (one address; e.g. "127.0.0.5" inside a test's network namespace).
  std::string listen_address = "127.0.0.1";
  // TCP port; 0 picks a free one on 127.0.0.1 (retried if taken before the server binds).
  int port = 0;
  // Prepended to the initdb / pg_ctl command lines (before runuser when running as root), e.g.
  // {"ip", "netns", "exec", "NS"} to start the postmaster inside a network namespace. psql in
  // sql() still uses the unix socket, which works from any namespace.
  std::vector<std::string> command_prefix;
};

// Starts a fresh cluster in a private temp dir in the constructor and stops it (pg_ctl stop
// -m fast) in the destructor. `initdb -A scram-sha-256` (every login needs a password),
// listen_addresses and port from `options` (default 127.0.0.1 on a free port), ssl=on with a
// server certificate from writeTestPki() (SAN localhost, 127.0.0.1), unix socket in the temp
// dir. When the test runs as root, initdb/pg_ctl run as the `postgres` user (runuser) and the
// temp dir belongs to it. Throws std::runtime_error (with the tool's output) when the server
// cannot be started. Not thread-safe; the methods that run psql can be called from any one
// thread at a time.
class PgServer {
 public:
  explicit PgServer(PgServerOptions options = {});
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  int port() const { return port_; }
  // Certificates: pki().ca_cert signed the server's certificate; pki().other_ca_cert did not.
  const TestPki& pki() const { return pki_; }
  const std::filesystem::path& dir() const { return tmp_.path(); }
  std::string socketDir() const { return (tmp_.path() / "sock").string(); }
  // The server log (pg_ctl -l).
  std::string log() const;

  // Runs `sql` (any number of statements, psql meta-commands allowed) through psql as the
  // superuser over the unix socket: -X -q -At, ON_ERROR_STOP. Returns psql's result as is.
  RunResult sql(const std::string& sql, const std::string& database = "postgres") const;
  // Like sql() but throws std::runtime_error (with psql's stderr) when psql fails; returns
  // psql's stdout.
  std::string sqlOrThrow(const std::string& sql, const std::string& database = "postgres") const;

  // Creates LOGIN role `app` with `app_password` (SCRAM), database `payments` owned by it, and
  // table public.cards (owned by app) with sampleCards():
  //   id int primary key, holder text, pan text, pan_vc varchar(23), pan_num bigint,
  //   pan_dec numeric(19,0), cvv text, created_ms bigint, phone text.
  // Throws std::runtime_error on failure. Call once per server.
  void createPaymentsFixture(const std::string& app_password = "apppw") const;

 private:
  // Runs a server tool (initdb, pg_ctl) as the cluster owner.
  RunResult runAsOwner(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  bool tryStart();

  PgServerOptions options_;
  TempDir tmp_;
  TestPki pki_;
  bool as_root_ = false;
  bool started_ = false;
  int port_ = 0;
};

}  // namespace tollgate::testing
