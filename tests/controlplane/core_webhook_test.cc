// The approval webhook and brokered credentials: a real HTTP POST, a rotated secret file.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <condition_variable>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "controlplane/core/webhook_notifier.h"
#include "tests/controlplane/cp_testing.h"

using namespace tollgate::controlplane;
using namespace tollgate::controlplane::testing;
namespace v1 = tollgate::v1;

namespace {

// Accepts one connection on 127.0.0.1, reads one HTTP request, answers 204.
class OneShotHttpServer {
 public:
  OneShotHttpServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(fd_, 4) == 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotHttpServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  // The request received, waiting up to 5 s.
  std::string request() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return done_; });
    return request_;
  }

 private:
  void serve() {
    int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string req;
    char buf[4096];
    while (true) {
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      size_t head = req.find("\r\n\r\n");
      if (head == std::string::npos) continue;
      size_t cl = req.find("Content-Length: ");
      size_t want = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
      if (req.size() >= head + 4 + want) break;
    }
    std::string resp = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    (void)!write(c, resp.data(), resp.size());
    close(c);
    std::lock_guard lock(mu_);
    request_ = req;
    done_ = true;
    cv_.notify_all();
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string request_;
  bool done_ = false;
};

}  // namespace

TEST_CASE("a new pending approval is POSTed as JSON to the webhook") {
  OneShotHttpServer http;
  tollgate::testing::TempDir dir;
  core::WebhookOptions hook;
  hook.url = "http://127.0.0.1:" + std::to_string(http.port()) + "/hooks/approvals";
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>(), hook);
  core::StatementApprovalInput in;
  in.requester = workload("ci", "loader", "pod-1");
  in.resource = "db";
  in.statement = "DELETE FROM orders";
  in.statement_class = "write";
  in.rule = "guardrail:unbounded-delete";
  in.approvers = {"dba", 1, 300};
  auto a = cp->approvals().createStatementApproval(in);
  REQUIRE(a.ok());
  std::string req = http.request();
  REQUIRE(req.rfind("POST /hooks/approvals HTTP/1.1\r\n", 0) == 0);
  CHECK(req.find("Content-Type: application/json") != std::string::npos);
  auto body = nlohmann::json::parse(req.substr(req.find("\r\n\r\n") + 4));
  CHECK(body["id"] == a->id());
  CHECK(body["kind"] == "statement");
  CHECK(body["statement"] == "DELETE FROM orders");
  CHECK(body["requester"] == "system:serviceaccount:ci:loader");
  CHECK(body["rule"] == "guardrail:unbounded-delete");
  CHECK(body["deadline"] == "2025-01-01T00:05:00Z");
}

TEST_CASE("webhook URLs are validated: scheme, and a CA for https") {
  CHECK(core::WebhookNotifier::validate({"ftp://x/", "", std::chrono::seconds(1)}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(core::WebhookNotifier::validate({"https://x/", "", std::chrono::seconds(1)}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(core::WebhookNotifier::validate({"http://x:80/a", "", std::chrono::seconds(1)}).ok());
  // A refused connection is an error, not a hang.
  auto refused = core::httpPostJson({"http://127.0.0.1:1/", "", std::chrono::seconds(2)}, "{}");
  CHECK(refused.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("brokered credentials come from the secret file and rotate when it changes") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  std::filesystem::create_directories(dir.path() / "secrets");
  dir.write("secrets/db-secret", "app:s3cret\n");
  auto policy = cp->policies().current();
  auto c1 = cp->credentials().forResource(*policy->compiled, "db");
  REQUIRE(c1.ok());
  CHECK(c1->resource() == "db");
  CHECK(c1->username() == "app");
  CHECK(c1->password() == "s3cret");
  CHECK(c1->generation() == 1);
  std::vector<std::string> rotated;
  auto sub = cp->credentials().subscribe([&](const std::string& n) { rotated.push_back(n); });
  dir.write("secrets/db-secret", "username: app\npassword: n3w\n");
  cp->credentials().poll();  // the background poller may have seen it first
  auto c2 = cp->credentials().forResource(*policy->compiled, "db");
  REQUIRE(c2.ok());
  CHECK(c2->password() == "n3w");
  CHECK(c2->generation() == 2);
  CHECK(rotated == std::vector<std::string>{"db-secret"});
  CHECK(countEvents(cp->auditStore(), v1::EVENT_CREDENTIAL_ROTATED) == 1);
  CHECK(cp->credentials().get("../etc").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(core::parseCredentialFile("garbage").status().code() == absl::StatusCode::kInvalidArgument);
}
