// AuditService: role checks, EVENT_AUDIT_ACCESS records, search/get/verify, streamed export.
#include "controlplane/services/audit_service.h"

#include <deque>
#include <mutex>

namespace tollgate::controlplane::services {
namespace {

constexpr std::initializer_list<const char*> kAuditors = {"auditor", "admin"};
constexpr uint32_t kExportPage = 500;

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& st) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(st);
  return reactor;
}

std::string describe(const v1::SearchAuditRequest& r) {
  std::string d;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) d += std::string(d.empty() ? "" : " ") + k + "=" + v;
  };
  add("principal", r.principal_id());
  add("subject", r.subject());
  add("resource", r.resource());
  add("session", r.session_id());
  add("rule", r.rule_id());
  add("text", r.text());
  if (r.has_from()) add("from", std::to_string(r.from().seconds()));
  if (r.has_to()) add("to", std::to_string(r.to().seconds()));
  if (r.decision() != v1::DECISION_UNSPECIFIED) add("decision", v1::Decision_Name(r.decision()));
  return d.empty() ? "all records" : d;
}

// Streams one page at a time; deletes itself in OnDone.
class ExportReactor final : public grpc::ServerWriteReactor<v1::AuditEvent> {
 public:
  ExportReactor(audit::AuditStore& store, audit::SearchFilter filter)
      : store_(store), filter_(std::move(filter)) {
    filter_.limit = kExportPage;
    std::lock_guard lock(mu_);
    nextLocked();
  }

  // ServerWriteReactor
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    if (!ok) {
      finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    nextLocked();
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    finishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override { delete this; }

 private:
  void nextLocked() {
    if (finished_) return;
    if (page_.empty() && !exhausted_) {
      auto resp = store_.search(filter_);
      if (!resp.ok()) {
        finishLocked(toGrpc(resp.status()));
        return;
      }
      for (auto& e : *resp->mutable_events()) page_.push_back(std::move(e));
      if (!page_.empty()) filter_.after_sequence = page_.back().sequence();
      if (resp->next_page_token().empty()) exhausted_ = true;
    }
    if (page_.empty()) {
      finishLocked(grpc::Status::OK);
      return;
    }
    current_ = std::move(page_.front());
    page_.pop_front();
    StartWrite(&current_);
  }
  void finishLocked(const grpc::Status& st) {
    if (finished_) return;
    finished_ = true;
    Finish(st);
  }

  audit::AuditStore& store_;
  audit::SearchFilter filter_;
  std::mutex mu_;
  std::deque<v1::AuditEvent> page_;
  v1::AuditEvent current_;
  bool exhausted_ = false;
  bool finished_ = false;
};

class RefusedExport final : public grpc::ServerWriteReactor<v1::AuditEvent> {
 public:
  explicit RefusedExport(const grpc::Status& st) { Finish(st); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status AuditService::admit(grpc::CallbackServerContext* context, const char* method,
                                 const std::string& detail, v1::Identity* who) {
  grpc::Status st = authz_.check(context, method, Access::kRoles, kAuditors, who);
  if (!st.ok()) return st;
  v1::AuditEvent e;
  e.set_type(v1::EVENT_AUDIT_ACCESS);
  *e.mutable_identity() = *who;
  e.mutable_location()->set_client_addr(context->peer());
  e.mutable_location()->set_protocol("grpc");
  e.mutable_action()->set_statement_type(method);
  e.mutable_action()->set_detail(std::string(method) + ": " + detail);
  e.mutable_result()->set_success(true);
  e.mutable_reason()->set_decision(v1::DECISION_ALLOW);
  if (auto a = cp_.audit(std::move(e)); !a.ok()) {
    // Access to the trail that cannot itself be recorded is refused (fail closed).
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "audit store unavailable");
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AuditService::Search(grpc::CallbackServerContext* context,
                                               const v1::SearchAuditRequest* request,
                                               v1::SearchAuditResponse* response) {
  v1::Identity who;
  grpc::Status st = admit(context, "AuditService/Search", describe(*request), &who);
  if (!st.ok()) return finish(context, st);
  auto filter = audit::searchFilterFromProto(*request);
  if (!filter.ok()) return finish(context, toGrpc(filter.status()));
  auto resp = cp_.auditStore().search(*filter);
  if (!resp.ok()) return finish(context, toGrpc(resp.status()));
  *response = *std::move(resp);
  return finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* AuditService::Get(grpc::CallbackServerContext* context,
                                            const v1::GetAuditEventRequest* request,
                                            v1::AuditEvent* response) {
  v1::Identity who;
  grpc::Status st =
      admit(context, "AuditService/Get", "sequence " + std::to_string(request->sequence()), &who);
  if (!st.ok()) return finish(context, st);
  auto e = cp_.auditStore().get(request->sequence());
  if (!e.ok()) return finish(context, toGrpc(e.status()));
  *response = *std::move(e);
  return finish(context, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::AuditEvent>* AuditService::Export(
    grpc::CallbackServerContext* context, const v1::ExportAuditRequest* request) {
  v1::Identity who;
  grpc::Status st = admit(context, "AuditService/Export", describe(request->filter()), &who);
  if (!st.ok()) return new RefusedExport(st);
  auto filter = audit::searchFilterFromProto(request->filter());
  if (!filter.ok()) return new RefusedExport(toGrpc(filter.status()));
  return new ExportReactor(cp_.auditStore(), *std::move(filter));
}

grpc::ServerUnaryReactor* AuditService::Verify(grpc::CallbackServerContext* context,
                                               const v1::VerifyAuditRequest* request,
                                               v1::VerifyAuditResponse* response) {
  v1::Identity who;
  grpc::Status st = admit(context, "AuditService/Verify",
                          "sequences " + std::to_string(request->from_sequence()) + ".." +
                              std::to_string(request->to_sequence()),
                          &who);
  if (!st.ok()) return finish(context, st);
  auto report = cp_.auditStore().verify(request->from_sequence(), request->to_sequence());
  if (!report.ok()) return finish(context, toGrpc(report.status()));
  *response = report->toProto();
  return finish(context, grpc::Status::OK);
}

}  // namespace tollgate::controlplane::services
