// Announces each new pending approval with a JSON POST to a configured URL, off the caller's path.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "tollgate/v1/approval.pb.h"

namespace tollgate::controlplane::core {

struct WebhookOptions {
  // "http://host[:port]/path" or "https://host[:port]/path".
  std::string url;
  // PEM CA bundle the https server must chain to (required for https).
  std::string ca_file;
  std::chrono::milliseconds timeout{5000};
};

// The JSON body posted for `approval`: {"id", "kind" ("grant"|"statement"), "resource",
// "statement", "statement_class", "rule", "requester" (subject), "requester_principal",
// "approver_group", "required_approvals", "deadline" (RFC 3339 UTC)}. Never holds secrets.
std::string approvalWebhookJson(const v1::Approval& approval);

// POSTs `body` (application/json) to options.url; returns the HTTP status. UNAVAILABLE for
// network/TLS failures, INVALID_ARGUMENT for a bad URL. Blocks up to options.timeout.
absl::StatusOr<int> httpPostJson(const WebhookOptions& options, const std::string& body);

// A queue drained by one background thread; announce() never blocks. Failures and non-2xx
// answers are logged (warn) and dropped. At most 1000 queued announcements (older ones are
// dropped with a warning). Thread-safe.
class WebhookNotifier {
 public:
  explicit WebhookNotifier(WebhookOptions options);
  ~WebhookNotifier();
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  // INVALID_ARGUMENT for a URL that is neither http:// nor https://, or https without a CA.
  static absl::Status validate(const WebhookOptions& options);

  void announce(const v1::Approval& approval);
  // Sends what is queued, then stops the thread. Idempotent.
  void stop();

 private:
  void run();

  WebhookOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tollgate::controlplane::core
