// A worker: one thread running one libuv loop; other threads hand it work with post().
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tollgate::sidecar {

// Connections handed to a worker live on its loop until they close, so everything they touch
// is single-threaded. The worker thread blocks SIGPIPE: writes to a reset peer fail with EPIPE
// instead of ending the process. Thread-safety: post() and stop() from any thread; loop() only
// on the worker's own thread (or before start()).
class Worker {
 public:
  explicit Worker(std::string name);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread. The loop runs until stop().
  void start();
  // Runs `fn` on the worker's loop, in post order. Dropped (not run) once stop() has begun.
  void post(std::function<void()> fn);
  // Asks `on_stop` (set below) to close what it owns, then waits for the loop to run out of
  // handles and joins the thread. Idempotent.
  void stop();
  // Called on the worker's thread when stop() begins: close every handle you own.
  void setOnStop(std::function<void()> on_stop) { on_stop_ = std::move(on_stop); }

  uv_loop_t* loop() { return &loop_; }
  const std::string& name() const { return name_; }
  bool isWorkerThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  static void onAsync(uv_async_t* handle);
  void drain();

  std::string name_;
  uv_loop_t loop_{};
  uv_async_t async_{};
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
  bool stopping_ = false;
  std::function<void()> on_stop_;
  std::thread thread_;
};

}  // namespace tollgate::sidecar
