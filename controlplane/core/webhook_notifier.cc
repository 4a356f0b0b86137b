// WebhookNotifier: JSON body of an approval announcement and the background sender.
#include "controlplane/core/webhook_notifier.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "controlplane/core/time_util.h"

namespace tollgate::controlplane::core {

std::string approvalWebhookJson(const v1::Approval& a) {
  nlohmann::json j = {
      {"id", a.id()},
      {"kind", a.kind() == v1::Approval::KIND_GRANT ? "grant" : "statement"},
      {"resource", a.resource()},
      {"statement", a.statement()},
      {"statement_class", a.statement_class()},
      {"rule", a.rule()},
      {"requester", a.requester().subject()},
      {"requester_principal", a.requester().principal_id()},
      {"approver_group", a.approver_group()},
      {"required_approvals", a.required_approvals()},
      {"deadline", rfc3339(a.deadline())},
  };
  if (!a.grant_id().empty()) j["grant_id"] = a.grant_id();
  if (!a.session_id().empty()) j["session_id"] = a.session_id();
  // Replace invalid UTF-8 rather than throw: a statement comes from a sidecar.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

WebhookNotifier::WebhookNotifier(WebhookOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

WebhookNotifier::~WebhookNotifier() { stop(); }

void WebhookNotifier::announce(const v1::Approval& approval) {
  std::string body = approvalWebhookJson(approval);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= 1000) {
      queue_.pop_front();
      log::warn("approval webhook queue full: dropped the oldest announcement");
    }
    queue_.push_back(std::move(body));
  }
  cv_.notify_one();
}

void WebhookNotifier::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookNotifier::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    auto status = httpPostJson(options_, body);
    if (!status.ok()) {
      log::warn("approval webhook failed", {{"error", std::string(status.status().message())}});
    } else if (*status < 200 || *status > 299) {
      log::warn("approval webhook refused", {{"status", std::to_string(*status)}});
    }
    lock.lock();
  }
}

}  // namespace tollgate::controlplane::core
