// The PostgreSQL audit backend for tests: one real server per test process, one fresh database
// per trail, raw SQL through libpq for tampering.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "controlplane/audit/pg_audit_store.h"
#include "controlplane/audit/pg_conn.h"
#include "tests/controlplane/audit_backend_cases.h"
#include "tests/support/pg_server.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit::testing {

// Started on first use, stopped when the test process exits.
inline tollgate::testing::PgServer& pgServer() {
  static tollgate::testing::PgServer server;
  return server;
}

class PgBackend final : public Backend {
 public:
  PgBackend() {
    static std::atomic<int> next{0};
    db_ = "audit_" + std::to_string(next++);
    pgServer().sqlOrThrow("CREATE DATABASE " + db_);
  }
  // Over TCP with TLS verify-full, as a replica in another pod would connect.
  std::string dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(pgServer().port()) +
           " user=" + tollgate::testing::kPgSuperuser +
           " password=" + tollgate::testing::kPgSuperPassword + " dbname=" + db_ +
           " sslmode=verify-full sslrootcert=" + pgServer().pki().ca_cert;
  }
  std::string keyPath() const { return (dir_.path() / "audit-signing-key.pem").string(); }
  PgAuditStoreOptions options(uint64_t checkpoint_every = 1000, ClockPtr clock = nullptr) const {
    PgAuditStoreOptions o;
    o.key_path = keyPath();
    o.create_key_if_missing = true;
    o.checkpoint_every = checkpoint_every;
    o.clock = std::move(clock);
    return o;
  }

  AuditStorePtr open(uint64_t checkpoint_every, ClockPtr clock) override {
    auto store = openPgAuditStore(dsn(), options(checkpoint_every, std::move(clock)));
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(*store);
  }
  void exec(const std::string& sql) override { REQUIRE(raw().exec(sql).ok()); }
  void execBlob(const std::string& sql, const std::string& blob) override {
    std::string q = sql;
    q.replace(q.find('?'), 1, "$1");
    auto r = raw().query(q, PgParams().addBytes(blob));
    INFO(q << ": " << r.status().ToString());
    REQUIRE(r.ok());
  }
  std::string queryBlob(const std::string& sql) override {
    auto r = raw().query(sql, PgParams());
    REQUIRE(r.ok());
    return r->rows() == 0 ? std::string() : std::string(r->bytes(0, 0));
  }
  int64_t queryInt(const std::string& sql) override {
    auto r = raw().query(sql, PgParams());
    REQUIRE(r.ok());
    return r->rows() == 0 || r->isNull(0, 0) ? -1 : r->i64(0, 0);
  }
  bool tryExecGuarded(const std::string& sql) override {
    auto conn = PgConn::connect(dsn());
    REQUIRE(conn.ok());
    return conn->exec(sql).ok();
  }
  // An attacker with the database and a key of their own also rewrites the recorded key id.
  void replaceKey() override {
    std::filesystem::remove(keyPath());
    auto key = CheckpointKey::loadOrCreate(keyPath());
    REQUIRE(key.ok());
    exec("UPDATE audit_meta SET value = '" + (*key)->keyId() + "' WHERE key = 'key_id'");
  }

 private:
  // A superuser session with triggers off (session_replication_role = replica).
  PgConn raw() {
    auto conn = PgConn::connect(dsn());
    INFO(conn.status().ToString());
    REQUIRE(conn.ok());
    REQUIRE(conn->exec("SET session_replication_role = replica").ok());
    return std::move(*conn);
  }

  tollgate::testing::TempDir dir_;
  std::string db_;
};

}  // namespace tollgate::controlplane::audit::testing
