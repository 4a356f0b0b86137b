// Worker thread and its cross-thread task queue.
#include "sidecar/network/worker.h"

#include <pthread.h>
#include <signal.h>

namespace tollgate::sidecar {

Worker::Worker(std::string name) : name_(std::move(name)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &Worker::onAsync);
  async_.data = this;
}

Worker::~Worker() {
  stop();
  uv_loop_close(&loop_);
}

void Worker::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    // A write to a peer that reset its connection raises SIGPIPE in the writing thread, and
    // its default action ends the process: one client could take every session down. Blocked
    // here, the signal stays pending and the write fails with EPIPE, which the connection
    // reports like any other error.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
}

void Worker::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Worker::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (!thread_.joinable()) {
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    return;
  }
  uv_async_send(&async_);
  thread_.join();
}

void Worker::onAsync(uv_async_t* handle) { static_cast<Worker*>(handle->data)->drain(); }

void Worker::drain() {
  std::vector<std::function<void()>> tasks;
  bool stopping;
  {
    std::lock_guard lock(mu_);
    tasks.swap(queue_);
    stopping = stopping_;
  }
  for (auto& t : tasks) t();
  if (stopping) {
    if (on_stop_) on_stop_();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

}  // namespace tollgate::sidecar
