// `tollgatectl approvals list|approve|deny|watch`: human decisions on grants and held statements.
#include <cstdio>

#include "tools/tollgatectl/commands.h"
#include "tools/tollgatectl/invocation.h"
#include "tools/tollgatectl/table.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/approval.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::ctl {
namespace {

constexpr const char* kUsage =
    "usage: tollgatectl approvals list [--all] [--resource R]\n"
    "       tollgatectl approvals approve ID [--comment TEXT]\n"
    "       tollgatectl approvals deny ID [--comment TEXT]\n"
    "       tollgatectl approvals watch [--resource R] [--timeout D]\n"
    "watch prints one line per approval that is pending or changes state, until interrupted\n"
    "(or until --timeout, when given).\n";

std::string stateWord(v1::ApprovalState s) {
  return enumWord(v1::ApprovalState_Name(s), "APPROVAL_");
}
std::string kindWord(v1::Approval::Kind k) { return enumWord(v1::Approval::Kind_Name(k), "KIND_"); }

std::string requesterName(const v1::Approval& a) {
  const v1::Identity& id = a.requester();
  if (!id.pod_name().empty()) return id.namespace_() + "/" + id.pod_name();
  return id.display_name().empty() ? id.subject() : id.display_name();
}

// "grant gr-... (read)" or the normalised statement.
std::string what(const v1::Approval& a) {
  if (a.kind() == v1::Approval::KIND_GRANT) {
    return (a.statement().empty() ? "grant" : a.statement()) + " (" + a.grant_id() + ")";
  }
  return a.statement();
}

std::string votes(const v1::Approval& a) {
  int yes = 0;
  for (const auto& v : a.votes()) yes += v.approve() ? 1 : 0;
  return std::to_string(yes) + "/" + std::to_string(a.required_approvals());
}

// When the approval last changed: its newest vote, else its creation.
const google::protobuf::Timestamp& changedAt(const v1::Approval& a) {
  const google::protobuf::Timestamp* t = &a.created_at();
  for (const auto& v : a.votes()) {
    if (v.at().seconds() > t->seconds()) t = &v.at();
  }
  return *t;
}

int runList(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("approvals list", args,
                               onlineFlags({{"all", false, false, "include decided approvals"},
                                            {"resource", true, false, "only this resource"}}),
                               kUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::ListApprovalsRequest req;
  req.set_include_decided(inv->flags().has("all"));
  req.set_resource(inv->flags().getOr("resource", ""));
  v1::ApprovalService::Stub stub(inv->client().channel());
  v1::ListApprovalsResponse resp;
  auto ctx = inv->context();
  grpc::Status st = stub.List(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    for (const auto& a : resp.approvals()) printJson(a);
    return kExitOk;
  }
  Table t({"ID", "KIND", "STATE", "RESOURCE", "REQUESTER", "VOTES", "RULE", "DEADLINE", "WHAT"});
  t.limit(4, 40);
  t.limit(8, 60);
  for (const auto& a : resp.approvals()) {
    std::string deadline =
        a.state() == v1::APPROVAL_PENDING ? formatRelative(a.deadline()) : formatTime(a.deadline());
    t.add({a.id(), kindWord(a.kind()), stateWord(a.state()), a.resource(), requesterName(a),
           votes(a), a.rule(), deadline, what(a)});
  }
  t.print();
  return kExitOk;
}

int runVote(const std::string& verb, const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("approvals " + verb, args,
                               onlineFlags({{"comment", true, false, "why (audited)"}}), kUsage, 1,
                               1, &rc);
  if (!inv) return rc;
  v1::ApprovalVoteRequest req;
  req.set_approval_id(inv->args()[0]);
  req.set_comment(inv->flags().getOr("comment", ""));
  v1::ApprovalService::Stub stub(inv->client().channel());
  v1::Approval resp;
  auto ctx = inv->context();
  grpc::Status st =
      verb == "approve" ? stub.Approve(ctx.get(), req, &resp) : stub.Deny(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else {
    std::printf("approval %s: %s (%s approvals)\n", resp.id().c_str(),
                stateWord(resp.state()).c_str(), votes(resp).c_str());
  }
  return kExitOk;
}

int runWatch(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("approvals watch", args,
                               onlineFlags({{"resource", true, false, "only this resource"}}),
                               kUsage, 0, 0, &rc);
  if (!inv) return rc;
  bool bounded = inv->flags().has("timeout");
  v1::WatchApprovalsRequest req;
  req.set_resource(inv->flags().getOr("resource", ""));
  v1::ApprovalService::Stub stub(inv->client().channel());
  auto ctx = inv->context(bounded);
  auto reader = stub.Watch(ctx.get(), req);
  v1::Approval a;
  while (reader->Read(&a)) {
    if (inv->json()) {
      printJson(a);
    } else {
      std::printf("%s  %s  %s  %s  %s  %s  %s  %s\n", formatTime(changedAt(a)).c_str(),
                  a.id().c_str(), stateWord(a.state()).c_str(), kindWord(a.kind()).c_str(),
                  a.resource().c_str(), requesterName(a).c_str(), votes(a).c_str(),
                  what(a).c_str());
    }
    std::fflush(stdout);
  }
  grpc::Status st = reader->Finish();
  if (st.ok() || (bounded && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
                  inv->client().channel()->GetState(false) == GRPC_CHANNEL_READY)) {
    return kExitOk;
  }
  return inv->fail(st);
}

}  // namespace

int runApprovals(const std::vector<std::string>& args) {
  int rc = 0;
  auto sub = subCommand(args, kUsage, &rc);
  if (!sub) return rc;
  if (sub->name == "list") return runList(sub->rest);
  if (sub->name == "approve" || sub->name == "deny") return runVote(sub->name, sub->rest);
  if (sub->name == "watch") return runWatch(sub->rest);
  return unknownSubCommand("approvals", sub->name, kUsage);
}

}  // namespace tollgate::ctl
