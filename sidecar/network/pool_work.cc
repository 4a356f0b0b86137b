// Work on libuv's thread pool whose owner may go away while it runs.
#include "sidecar/network/pool_work.h"

#include <utility>

namespace tollgate::sidecar {

// Lives from start() to onAfterWork(), which libuv calls once in every case (with UV_ECANCELED
// for work cancelled before it started). `cancelled` is shared with the pool thread; the rest is
// touched on the loop's thread only, `work` only while it runs.
struct PoolWork::Request {
  uv_work_t req{};
  Work work;
  std::function<void()> done;
  std::atomic<bool> cancelled{false};
  PoolWork* owner = nullptr;
};

std::unique_ptr<PoolWork> PoolWork::start(uv_loop_t* loop, Work work, std::function<void()> done) {
  auto* request = new Request;
  request->work = std::move(work);
  request->done = std::move(done);
  request->req.data = request;
  std::unique_ptr<PoolWork> handle(new PoolWork(request));
  request->owner = handle.get();
  // Fails only without a work callback.
  uv_queue_work(loop, &request->req, &PoolWork::onWork, &PoolWork::onAfterWork);
  return handle;
}

PoolWork::~PoolWork() {
  if (request_ == nullptr) return;  // finished
  request_->cancelled.store(true);
  request_->owner = nullptr;
  request_->done = nullptr;
  // Work a pool thread has taken cannot be cancelled (UV_EBUSY): it sees `cancelled`.
  uv_cancel(reinterpret_cast<uv_req_t*>(&request_->req));
}

void PoolWork::onWork(uv_work_t* req) {
  auto* request = static_cast<Request*>(req->data);
  request->work(request->cancelled);
}

void PoolWork::onAfterWork(uv_work_t* req, int) {
  std::unique_ptr<Request> request(static_cast<Request*>(req->data));
  if (request->owner == nullptr) return;  // cancelled: `done` is gone already
  request->owner->request_ = nullptr;
  std::function<void()> done = std::move(request->done);
  request.reset();  // `work` and what it captured go first
  done();
}

}  // namespace tollgate::sidecar
