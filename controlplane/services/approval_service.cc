// ApprovalService: role checks, votes, and a write reactor that streams approval changes.
#include "controlplane/services/approval_service.h"

#include <deque>
#include <mutex>

namespace tollgate::controlplane::services {
namespace {

constexpr std::initializer_list<const char*> kApprovers = {"approver", "admin"};

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& st) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(st);
  return reactor;
}

// Streams approvals: one write in flight, a queue behind it. Deletes itself in OnDone.
class WatchReactor final : public grpc::ServerWriteReactor<v1::Approval> {
 public:
  WatchReactor(core::ApprovalManager& approvals, std::string resource)
      : resource_(std::move(resource)) {
    std::lock_guard lock(mu_);
    sub_ = approvals.subscribe([this](const v1::Approval& a) { push(a); });
    for (auto& a : approvals.list(false, resource_)) queue_.push_back(std::move(a));
    writeNextLocked();
  }

  // ServerWriteReactor
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    writeNextLocked();
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    finishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    sub_.reset();  // no callback runs after this returns
    delete this;
  }

 private:
  void push(const v1::Approval& a) {
    if (!resource_.empty() && a.resource() != resource_) return;
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (queue_.size() >= 10000) {
      finishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "watcher too slow"));
      return;
    }
    queue_.push_back(a);
    writeNextLocked();
  }
  void writeNextLocked() {
    if (writing_ || finished_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }
  void finishLocked(const grpc::Status& st) {
    if (finished_) return;
    finished_ = true;
    Finish(st);
  }

  std::string resource_;
  std::mutex mu_;
  std::deque<v1::Approval> queue_;
  v1::Approval current_;
  bool writing_ = false;
  bool finished_ = false;
  core::Subscription sub_;
};

class RefusedWatch final : public grpc::ServerWriteReactor<v1::Approval> {
 public:
  explicit RefusedWatch(const grpc::Status& st) { Finish(st); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* ApprovalService::List(grpc::CallbackServerContext* context,
                                                const v1::ListApprovalsRequest* request,
                                                v1::ListApprovalsResponse* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, "ApprovalService/List", Access::kRoles, kApprovers, &who);
  if (!st.ok()) return finish(context, st);
  for (auto& a : cp_.approvals().list(request->include_decided(), request->resource())) {
    *response->add_approvals() = std::move(a);
  }
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ApprovalService::vote(grpc::CallbackServerContext* context,
                                                const char* method,
                                                const v1::ApprovalVoteRequest& request,
                                                bool approve, v1::Approval* response) {
  v1::Identity who;
  grpc::Status st = authz_.check(context, method, Access::kRoles, kApprovers, &who);
  if (!st.ok()) return finish(context, st);
  auto a = cp_.approvals().vote(request.approval_id(), who, approve, request.comment());
  if (!a.ok()) {
    grpc::Status err = toGrpc(a.status());
    if (absl::IsPermissionDenied(a.status())) authz_.auditDenied(context, method, &who, err);
    return finish(context, err);
  }
  *response = *std::move(a);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ApprovalService::Approve(grpc::CallbackServerContext* context,
                                                   const v1::ApprovalVoteRequest* request,
                                                   v1::Approval* response) {
  return vote(context, "ApprovalService/Approve", *request, true, response);
}

grpc::ServerUnaryReactor* ApprovalService::Deny(grpc::CallbackServerContext* context,
                                                const v1::ApprovalVoteRequest* request,
                                                v1::Approval* response) {
  return vote(context, "ApprovalService/Deny", *request, false, response);
}

grpc::ServerWriteReactor<v1::Approval>* ApprovalService::Watch(
    grpc::CallbackServerContext* context, const v1::WatchApprovalsRequest* request) {
  v1::Identity who;
  grpc::Status st =
      authz_.check(context, "ApprovalService/Watch", Access::kRoles, kApprovers, &who);
  if (!st.ok()) return new RefusedWatch(st);
  return new WatchReactor(cp_.approvals(), request->resource());
}

}  // namespace tollgate::controlplane::services
