// The cost of one audit event's JSON line (appendEventJson), which the sidecar writes for
// every statement: a pgbench-like statement event, and one whose strings need escaping.
#include <benchmark/benchmark.h>

#include <string>

#include "sidecar/events/event_json.h"
#include "tollgate/v1/audit.pb.h"

namespace {

tollgate::v1::AuditEvent statementEvent(const std::string& statement) {
  tollgate::v1::AuditEvent e;
  e.set_id("4ba2a89870237833-19");
  e.set_type(tollgate::v1::EVENT_STATEMENT);
  e.mutable_time()->set_seconds(1795795200);
  e.mutable_time()->set_nanos(123456000);
  e.set_source_sequence(19);
  auto* i = e.mutable_identity();
  i->set_principal_id("system:serviceaccount:payments-ops:nightly-settlement");
  i->set_issuer("https://kubernetes.default.svc.cluster.local");
  i->set_subject("system:serviceaccount:payments-ops:nightly-settlement");
  i->set_namespace_("payments-ops");
  i->set_service_account("nightly-settlement");
  i->set_pod_name("nightly-settlement-28391-x7k2p");
  i->set_pod_uid("6f1c2b7e-3d4a-4b5c-9e8f-0a1b2c3d4e5f");
  i->set_job_name("nightly-settlement-28391");
  auto* l = e.mutable_location();
  l->set_resource("payments-db");
  l->set_protocol("postgres");
  l->set_upstream("10.0.4.17:5432");
  l->set_client_addr("127.0.0.1:51234");
  l->set_source("sidecar/nightly-settlement-28391-x7k2p");
  l->set_session_id("4ba2a89870237833");
  auto* a = e.mutable_action();
  a->set_statement(statement);
  a->set_statement_class("read");
  a->set_statement_type("select");
  a->add_objects("pgbench_accounts");
  a->set_fingerprint("e0676ab57620d4a4");
  auto* r = e.mutable_result();
  r->set_success(true);
  r->set_rows(1);
  r->set_bytes_in(73);
  r->set_bytes_out(112);
  r->set_duration_us(187);
  auto* w = e.mutable_reason();
  w->set_decision(tollgate::v1::DECISION_ALLOW);
  w->add_rule_ids("role:read");
  w->set_grant_id("grant-7f3a9c");
  w->set_policy_version(3);
  e.set_time_source("system");
  return e;
}

void BM_StatementEvent(benchmark::State& state, const std::string& statement) {
  const tollgate::v1::AuditEvent e = statementEvent(statement);
  std::string buf;
  for (auto _ : state) {
    buf.clear();
    tollgate::sidecar::appendEventJson(e, buf);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}
BENCHMARK_CAPTURE(BM_StatementEvent, pgbench_select,
                  std::string("SELECT abalance FROM pgbench_accounts WHERE aid = $1"));
BENCHMARK_CAPTURE(BM_StatementEvent, escaped_text,
                  std::string("select \"Holder\", note from \"Card \\\\ Notes\" where note = $1 "
                              "and city = $2\n  and name = $3 -- caf\xc3\xa9\t\xe2\x82\xac"));

}  // namespace

BENCHMARK_MAIN();
