// Sidecar process lifecycle on the main libuv loop.
#include "sidecar/server.h"

#include "common/log.h"

namespace tollgate::sidecar {

Server::Server(SidecarConfig config)
    : config_(std::move(config)), registry_(std::make_shared<prometheus::Registry>()) {
  uv_loop_init(&loop_);
  loop_.data = this;
}

Server::~Server() {
  if (admin_) admin_->stop();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

absl::Status Server::start() {
  registerBuildInfo(*registry_, "sidecar");
  admin_ = std::make_unique<AdminServer>(registry_, [this] { return readiness(); });
  if (auto st = admin_->start(config_.admin.address, config_.admin.port); !st.ok()) return st;

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);
  uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
  uv_async_init(&loop_, &stop_async_, &Server::onStopAsync);
  stop_async_.data = this;

  ready_ = true;
  log::info("sidecar started", {{"admin", config_.admin.address + ":" +
                                              std::to_string(admin_->port())},
                                {"workers", std::to_string(config_.workers)}});
  return absl::OkStatus();
}

int Server::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  log::info("sidecar stopped");
  return 0;
}

void Server::requestStop() { uv_async_send(&stop_async_); }

void Server::onSignal(uv_signal_t* handle, int signum) {
  static_cast<Server*>(handle->data)->beginShutdown(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void Server::onStopAsync(uv_async_t* handle) {
  static_cast<Server*>(handle->data)->beginShutdown("stop requested");
}

void Server::beginShutdown(const char* why) {
  if (stopping_.exchange(true)) return;
  ready_ = false;
  log::info("sidecar shutting down", {{"reason", why}});
  uv_signal_stop(&sigterm_);
  uv_signal_stop(&sigint_);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
}

std::string Server::readiness() const {
  if (stopping_) return "shutting down";
  if (!ready_) return "starting";
  return "";
}

}  // namespace tollgate::sidecar
