// Concurrency smoke test: two appending threads and a searching/verifying thread on one store.
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <set>
#include <thread>

#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::makeEvent;
using testing::openStore;
using testing::verifyAll;

TEST_CASE("concurrent appends stay dense and verifiable while readers search") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string(), 50);
  constexpr int kBatches = 60;
  constexpr int kPerBatch = 5;
  std::atomic<bool> done{false};
  std::atomic<int> reader_errors{0};
  std::atomic<int> searches{0};
  std::vector<std::vector<uint64_t>> assigned(2);

  auto writer = [&](int w) {
    const std::string source = "sidecar/pod-" + std::to_string(w);
    for (int b = 0; b < kBatches; ++b) {
      std::vector<v1::AuditEvent> batch;
      for (int i = 0; i < kPerBatch; ++i) {
        batch.push_back(
            makeEvent(b * kPerBatch + i, source, static_cast<uint64_t>(b * kPerBatch + i + 1)));
      }
      auto r = store->append(batch);
      if (!r.ok()) return;
      for (uint64_t s : r->sequences) assigned[static_cast<size_t>(w)].push_back(s);
    }
  };
  std::thread reader([&] {
    while (!done.load()) {
      SearchFilter f;
      f.resource = "payments-db";
      auto page = store->search(f);
      if (!page.ok()) ++reader_errors;
      for (int i = 1; i < (page.ok() ? page->events_size() : 0); ++i) {
        if (page->events(i).sequence() <= page->events(i - 1).sequence()) ++reader_errors;
      }
      auto report = store->verify(0, 0);
      if (!report.ok() || !report->ok) ++reader_errors;
      ++searches;
    }
  });
  std::thread w0(writer, 0);
  std::thread w1(writer, 1);
  w0.join();
  w1.join();
  done.store(true);
  reader.join();

  CHECK(reader_errors.load() == 0);
  CHECK(searches.load() > 0);
  std::set<uint64_t> all;
  for (const auto& v : assigned) {
    CHECK(v.size() == kBatches * kPerBatch);
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == 2 * kBatches * kPerBatch);
  CHECK(*all.rbegin() == 2 * kBatches * kPerBatch);
  CHECK(store->headSequence() == 2 * kBatches * kPerBatch);
  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.checkpoints_checked == 2 * kBatches * kPerBatch / 50);
}

}  // namespace
}  // namespace tollgate::controlplane::audit
