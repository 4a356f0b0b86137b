// PostgreSQL audit store with several replicas: concurrent appends form one linear chain,
// replays are de-duplicated across replicas, and misconfigured replicas are refused.
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <set>
#include <thread>

#include "tests/controlplane/audit_pg_testing.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::makeEvent;
using testing::PgBackend;
using testing::verifyAll;

TEST_CASE("two replicas appending concurrently build one linear chain that verifies") {
  PgBackend backend;
  auto replica_a = backend.open(50, nullptr);
  auto replica_b = backend.open(50, nullptr);
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 5;
  std::vector<std::vector<uint64_t>> assigned(2);
  std::atomic<int> errors{0};
  std::atomic<bool> done{false};
  auto writer = [&](int w, AuditStore* store) {
    const std::string source = "sidecar/pod-" + std::to_string(w);
    for (int b = 0; b < kBatches; ++b) {
      std::vector<v1::AuditEvent> batch;
      for (int i = 0; i < kPerBatch; ++i) {
        const int n = b * kPerBatch + i;
        batch.push_back(makeEvent(n, source, static_cast<uint64_t>(n + 1)));
      }
      auto r = store->append(batch);
      if (!r.ok()) {
        ++errors;
        return;
      }
      for (uint64_t s : r->sequences) assigned[static_cast<size_t>(w)].push_back(s);
    }
  };
  int verifies = 0;
  std::thread reader([&] {  // verify sees a consistent prefix while both replicas write
    while (!done.load()) {
      auto report = replica_a->verify(0, 0);
      if (!report.ok() || !report->ok) ++errors;
      ++verifies;
    }
  });
  std::thread wa(writer, 0, replica_a.get());
  std::thread wb(writer, 1, replica_b.get());
  wa.join();
  wb.join();
  done.store(true);
  reader.join();

  CHECK(errors.load() == 0);
  CHECK(verifies > 0);
  std::set<uint64_t> all;
  for (const auto& v : assigned) {
    CHECK(v.size() == kBatches * kPerBatch);
    all.insert(v.begin(), v.end());
  }
  constexpr uint64_t kTotal = 2 * kBatches * kPerBatch;
  CHECK(all.size() == kTotal);  // no sequence given twice
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kTotal);  // dense
  CHECK(replica_b->headSequence() == kTotal);
  VerifyReport r = verifyAll(*replica_b);
  CHECK(r.ok);
  CHECK(r.records_checked == kTotal);
  CHECK(r.checkpoints_checked == kTotal / 50);  // replicas share the checkpoint schedule
}

TEST_CASE("a batch replayed to two replicas at once is stored once") {
  PgBackend backend;
  auto replica_a = backend.open(1000, nullptr);
  auto replica_b = backend.open(1000, nullptr);
  std::vector<v1::AuditEvent> batch;
  for (int i = 1; i <= 100; ++i) batch.push_back(makeEvent(i, "sidecar/pod-r", 1000 + i));
  // The sidecar reconnected to another replica while the first was still storing its batch.
  absl::StatusOr<AppendResult> ra, rb;
  std::thread ta([&] { ra = replica_a->append(batch); });
  std::thread tb([&] { rb = replica_b->append(batch); });
  ta.join();
  tb.join();
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  CHECK(ra->sequences == rb->sequences);
  size_t fresh = 0;
  for (size_t i = 0; i < batch.size(); ++i) fresh += (!ra->duplicate[i]) + (!rb->duplicate[i]);
  CHECK(fresh == batch.size());
  CHECK(replica_a->headSequence() == 100);
  CHECK(backend.queryInt("SELECT COUNT(*) FROM audit_records") == 100);
  CHECK(verifyAll(*replica_a).ok);
}

TEST_CASE("a replica with another signing key is refused") {
  PgBackend backend;
  REQUIRE(backend.open(1000, nullptr)->append({makeEvent(1)}).ok());
  tollgate::testing::TempDir other;
  PgAuditStoreOptions options = backend.options();
  options.key_path = (other.path() / "key.pem").string();
  CHECK(openPgAuditStore(backend.dsn(), options).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  options.create_key_if_missing = false;  // and no replica silently makes its own key
  CHECK(openPgAuditStore(backend.dsn(), options).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a database with a newer schema version is refused") {
  PgBackend backend;
  backend.open(1000, nullptr).reset();
  backend.exec("UPDATE audit_meta SET value = '2' WHERE key = 'schema_version'");
  CHECK(openPgAuditStore(backend.dsn(), backend.options()).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("an unreachable server is Unavailable") {
  PgBackend backend;
  std::string dsn = "host=127.0.0.1 port=" + std::to_string(tollgate::testing::freePort()) +
                    " connect_timeout=2 user=x dbname=x";
  CHECK(openPgAuditStore(dsn, backend.options()).status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("a NUL byte in an indexed field is stored, found and verifies") {
  PgBackend backend;
  auto store = backend.open(1000, nullptr);
  v1::AuditEvent e = makeEvent(1);
  e.mutable_identity()->set_principal_id(std::string("evil\0id", 7));
  e.mutable_action()->set_statement(std::string("SELECT '\0'", 10));
  REQUIRE(store->append({e, makeEvent(2)}).ok());
  CHECK(store->get(1)->identity().principal_id() == std::string("evil\0id", 7));
  SearchFilter f;
  f.principal_id = std::string("evil\0id", 7);
  CHECK(testing::sequencesOf(store->search(f).value()) == std::vector<uint64_t>{1});
  CHECK(verifyAll(*store).ok);
}

TEST_CASE("connections killed by the server are re-established on the next call") {
  PgBackend backend;
  auto store = backend.open(1000, nullptr);
  REQUIRE(store->append({makeEvent(1)}).ok());
  REQUIRE(store->get(1).ok());  // leaves an idle reader connection in the pool
  backend.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
      " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  auto again = store->append({makeEvent(2)});
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK(again->sequences == std::vector<uint64_t>{2});
  CHECK(store->get(2).ok());
  CHECK(verifyAll(*store).ok);
}

}  // namespace
}  // namespace tollgate::controlplane::audit
