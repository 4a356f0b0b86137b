// CPU-heavy work (SCRAM's PBKDF2) on libuv's thread pool, so it does not stall the other
// connections of a worker loop; the result comes back on the loop.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>

namespace tollgate::sidecar {

// One piece of work queued on the thread pool of a loop (uv_queue_work). Created, used and
// destroyed on that loop's thread by whoever waits for the work.
//
// `work` runs once on a pool thread, unless cancelled before it started; `cancelled` turns true
// when the owner lets go, and long work should look at it and return early. `done` runs on the
// loop after `work` returned, unless the owner let go first; by then the PoolWork counts as
// finished, and `done` may destroy it.
//
// Destroying the PoolWork before `done` ran cancels it: `done` (with what it captured) is
// destroyed at once and never runs, work not started yet is dropped (uv_cancel), and `work`,
// with what it captured, is destroyed on the loop once the pool thread let go of it. So the
// owner may go away with the work in flight; the loop itself does not finish (uv_run returns)
// before the work returned.
class PoolWork {
 public:
  using Work = std::function<void(const std::atomic<bool>& cancelled)>;

  static std::unique_ptr<PoolWork> start(uv_loop_t* loop, Work work, std::function<void()> done);
  ~PoolWork();
  PoolWork(const PoolWork&) = delete;
  PoolWork& operator=(const PoolWork&) = delete;

 private:
  struct Request;
  explicit PoolWork(Request* request) : request_(request) {}
  static void onWork(uv_work_t* req);
  static void onAfterWork(uv_work_t* req, int status);

  Request* request_;  // owned by libuv until onAfterWork(); null from then on
};
using PoolWorkPtr = std::unique_ptr<PoolWork>;

}  // namespace tollgate::sidecar
