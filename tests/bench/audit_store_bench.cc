// Audit store append throughput (events/s) with the hash chain and checkpoints on, by batch size,
// for SQLite and (when TOLLGATE_AUDIT_BENCH_PG_DSN names a database) PostgreSQL.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "controlplane/audit/pg_audit_store.h"
#include "controlplane/audit/pg_conn.h"
#include "controlplane/audit/sqlite_audit_store.h"

namespace {

namespace audit = tollgate::controlplane::audit;

tollgate::v1::AuditEvent event(int64_t i) {
  tollgate::v1::AuditEvent e;
  e.set_id("evt-" + std::to_string(i));
  e.set_type(tollgate::v1::EVENT_STATEMENT);
  e.mutable_time()->set_seconds(1735689600 + i);
  e.mutable_identity()->set_principal_id("k8s|system:serviceaccount:ci:loader|pod-1234");
  e.mutable_identity()->set_subject("system:serviceaccount:ci:loader");
  e.mutable_location()->set_resource("payments-db");
  e.mutable_location()->set_source("sidecar/loader-7f9c");
  e.mutable_location()->set_session_id("sess-" + std::to_string(i / 100));
  e.mutable_action()->set_statement("SELECT id, pan, expiry FROM cards WHERE customer_id = $1");
  e.mutable_action()->set_statement_class("read");
  e.mutable_result()->set_success(true);
  e.mutable_result()->set_rows(12);
  e.mutable_reason()->set_decision(tollgate::v1::DECISION_ALLOW);
  e.mutable_reason()->add_rule_ids("read-ok");
  e.set_source_sequence(static_cast<uint64_t>(i + 1));  // de-duplication on, as for sidecars
  return e;
}

std::filesystem::path scratchDir() {
  return std::filesystem::temp_directory_path() /
         ("tollgate-audit-bench-" + std::to_string(::getpid()));
}

// Appends batches of state.range(0) events; event building is not timed.
void appendLoop(benchmark::State& state, audit::AuditStore& store) {
  const int64_t batch = state.range(0);
  int64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<tollgate::v1::AuditEvent> events;
    for (int64_t i = 0; i < batch; ++i) events.push_back(event(next++));
    state.ResumeTiming();
    auto r = store.append(events);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_AppendSqlite(benchmark::State& state) {
  std::filesystem::path dir = scratchDir();
  std::filesystem::remove_all(dir);
  audit::SqliteAuditStoreOptions options;
  options.data_dir = dir.string();
  auto store = audit::SqliteAuditStore::open(options);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  appendLoop(state, **store);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AppendSqlite)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

// Each run starts from an empty trail in a schema of its own (dropped first).
void BM_AppendPostgres(benchmark::State& state) {
  const char* dsn = std::getenv("TOLLGATE_AUDIT_BENCH_PG_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    state.SkipWithError("TOLLGATE_AUDIT_BENCH_PG_DSN is not set (tests/bench/run sets it)");
    return;
  }
  auto admin = audit::PgConn::connect(dsn);
  if (!admin.ok() ||
      !admin->exec("DROP SCHEMA IF EXISTS audit_bench CASCADE; CREATE SCHEMA audit_bench").ok()) {
    state.SkipWithError("cannot reset schema audit_bench");
    return;
  }
  std::filesystem::path dir = scratchDir();
  std::filesystem::create_directories(dir);
  audit::PgAuditStoreOptions options;
  options.key_path = (dir / "key.pem").string();
  options.create_key_if_missing = true;
  auto store =
      audit::openPgAuditStore(std::string(dsn) + " options=-csearch_path=audit_bench", options);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  appendLoop(state, **store);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AppendPostgres)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
