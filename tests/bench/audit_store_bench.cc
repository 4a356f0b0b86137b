// Audit store append throughput (events/s) with the hash chain and checkpoints on, by batch size.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "controlplane/audit/sqlite_audit_store.h"

namespace {

using tollgate::controlplane::audit::SqliteAuditStore;
using tollgate::controlplane::audit::SqliteAuditStoreOptions;

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
  e.set_source_sequence(static_cast<uint64_t>(i + 1));
  return e;
}

void BM_AppendBatch(benchmark::State& state) {
  const int64_t batch = state.range(0);
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("tollgate-audit-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  SqliteAuditStoreOptions options;
  options.data_dir = dir.string();
  auto store = SqliteAuditStore::open(options);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  int64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<tollgate::v1::AuditEvent> events;
    for (int64_t i = 0; i < batch; ++i) events.push_back(event(next++));
    state.ResumeTiming();
    auto r = (*store)->append(events);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AppendBatch)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
