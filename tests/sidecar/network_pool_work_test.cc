// PoolWork on a real libuv loop: the work runs off the loop and its completion on it; an owner
// that goes away cancels it, and the loop still ends.
#include <catch2/catch_test_macros.hpp>

#include <uv.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "sidecar/network/pool_work.h"

using tollgate::sidecar::PoolWork;
using tollgate::sidecar::PoolWorkPtr;

namespace {

struct Loop {
  Loop() { uv_loop_init(&loop); }
  ~Loop() { uv_loop_close(&loop); }
  uv_loop_t loop{};
};

// Sets `*destroyed` when the last copy of it goes: tells when a callback's captures are freed.
struct Witness {
  explicit Witness(std::atomic<bool>* destroyed) : destroyed_(destroyed) {}
  ~Witness() { destroyed_->store(true); }
  std::atomic<bool>* destroyed_;
};

}  // namespace

TEST_CASE("pool work runs off the loop and its completion on the loop") {
  Loop l;
  const auto loop_thread = std::this_thread::get_id();
  std::thread::id work_thread;
  bool work_cancelled = true;
  bool done = false;
  PoolWorkPtr work;
  work = PoolWork::start(
      &l.loop,
      [&](const std::atomic<bool>& cancelled) {  // (no Catch2 assertions off the main thread)
        work_thread = std::this_thread::get_id();
        work_cancelled = cancelled.load();
      },
      [&] {
        CHECK(std::this_thread::get_id() == loop_thread);
        done = true;
        work.reset();  // the owner may drop it from its completion
      });
  CHECK_FALSE(done);  // never from inside start()
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(done);
  CHECK(work_thread != loop_thread);
  CHECK_FALSE(work_cancelled);
  CHECK(work == nullptr);
}

// What a session does when it closes while its SCRAM keys are being derived.
TEST_CASE("pool work whose owner goes away is told so, and its completion never runs") {
  Loop l;
  std::atomic<bool> started{false};
  std::atomic<bool> saw_cancel{false};
  std::atomic<bool> work_captures_gone{false};
  std::atomic<bool> done_captures_gone{false};
  bool done = false;
  {
    auto work_witness = std::make_shared<Witness>(&work_captures_gone);
    auto done_witness = std::make_shared<Witness>(&done_captures_gone);
    PoolWorkPtr work = PoolWork::start(
        &l.loop,
        [&, work_witness](const std::atomic<bool>& cancelled) {
          started = true;
          while (!cancelled.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
          saw_cancel = true;
        },
        [&, done_witness] { done = true; });
    work_witness.reset();
    done_witness.reset();
    while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // The owner goes away with the work running.
  }
  CHECK(done_captures_gone.load());  // at once
  uv_run(&l.loop, UV_RUN_DEFAULT);   // returns once the pool let go of the work
  CHECK(saw_cancel.load());
  CHECK(work_captures_gone.load());
  CHECK_FALSE(done);
}

TEST_CASE("pool work cancelled before a pool thread took it does not run") {
  Loop l;
  // Every pool thread busy (libuv's default is 4), so that the later work waits in the queue.
  std::atomic<bool> release{false};
  std::vector<PoolWorkPtr> blockers(128);
  for (PoolWorkPtr& blocker : blockers) {
    blocker = PoolWork::start(
        &l.loop,
        [&](const std::atomic<bool>&) {
          while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        },
        [] {});
  }
  std::atomic<int> ran_uncancelled{0};
  std::atomic<bool> captures_gone{false};
  bool done = false;
  {
    auto witness = std::make_shared<Witness>(&captures_gone);
    PoolWorkPtr queued = PoolWork::start(
        &l.loop,
        [&, witness](const std::atomic<bool>& cancelled) {
          if (!cancelled.load()) ++ran_uncancelled;
        },
        [&] { done = true; });
    witness.reset();
  }
  release = true;
  uv_run(&l.loop, UV_RUN_DEFAULT);
  CHECK(ran_uncancelled.load() == 0);
  CHECK(captures_gone.load());
  CHECK_FALSE(done);
  blockers.clear();
}
