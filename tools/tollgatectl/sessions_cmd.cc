// `tollgatectl sessions list|show|kill`: live and past data-path sessions reported by sidecars.
#include <cstdio>

#include "tools/tollgatectl/commands.h"
#include "tools/tollgatectl/invocation.h"
#include "tools/tollgatectl/table.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/session.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::ctl {
namespace {

constexpr const char* kUsage =
    "usage: tollgatectl sessions list [--all] [--resource R] [--principal P]\n"
    "       tollgatectl sessions show ID\n"
    "       tollgatectl sessions kill ID [--reason TEXT]\n";

bool live(const v1::Session& s) { return !s.has_ended_at() || s.ended_at().seconds() == 0; }

std::string identityName(const v1::Identity& id) {
  if (!id.pod_name().empty()) return id.namespace_() + "/" + id.pod_name();
  if (!id.display_name().empty()) return id.display_name();
  return id.subject();
}

// Live sessions: time since start; ended ones: how long they lasted.
std::string age(const v1::Session& s) {
  int64_t end = live(s) ? nowSeconds() : s.ended_at().seconds();
  return formatDuration(end - s.started_at().seconds());
}

int runList(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("sessions list", args,
                               onlineFlags({{"all", false, false, "include ended sessions"},
                                            {"resource", true, false, "only this resource"},
                                            {"principal", true, false, "only this principal id"}}),
                               kUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::ListSessionsRequest req;
  req.set_include_ended(inv->flags().has("all"));
  req.set_resource(inv->flags().getOr("resource", ""));
  req.set_principal_id(inv->flags().getOr("principal", ""));
  v1::SessionService::Stub stub(inv->client().channel());
  v1::ListSessionsResponse resp;
  auto ctx = inv->context();
  grpc::Status st = stub.List(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    for (const auto& s : resp.sessions()) printJson(s);
    return kExitOk;
  }
  Table t({"ID", "IDENTITY", "RESOURCE", "PROTOCOL", "STARTED", "DURATION", "STATEMENTS", "BLOCKED",
           "STATE"});
  t.limit(1, 40);
  t.limit(8, 40);
  for (const auto& s : resp.sessions()) {
    t.add({s.id(), identityName(s.identity()), s.resource(), s.protocol(),
           formatTime(s.started_at()), age(s), std::to_string(s.statements()),
           std::to_string(s.blocked()),
           live(s) ? "live" : "ended" + (s.end_reason().empty() ? "" : ": " + s.end_reason())});
  }
  t.print();
  return kExitOk;
}

void printSession(const v1::Session& s) {
  const v1::Identity& id = s.identity();
  Table t({"FIELD", "VALUE"});
  t.add({"id", s.id()});
  t.add({"state", live(s) ? "live" : "ended"});
  t.add({"principal", id.principal_id()});
  t.add({"subject", id.subject()});
  if (!id.pod_name().empty()) t.add({"pod", id.namespace_() + "/" + id.pod_name()});
  if (!id.job_name().empty()) t.add({"job", id.job_name()});
  t.add({"resource", s.resource()});
  t.add({"protocol", s.protocol()});
  t.add({"grant", s.grant_id()});
  t.add({"sidecar", s.sidecar_id()});
  t.add({"started", formatTime(s.started_at())});
  t.add({"ended", live(s) ? "-" : formatTime(s.ended_at())});
  t.add({"duration", age(s)});
  t.add({"statements", std::to_string(s.statements())});
  t.add({"blocked", std::to_string(s.blocked())});
  t.add({"bytes in", std::to_string(s.bytes_in())});
  t.add({"bytes out", std::to_string(s.bytes_out())});
  if (!s.end_reason().empty()) t.add({"end reason", s.end_reason()});
  t.print();
}

int runShowOrKill(const std::string& verb, const std::vector<std::string>& args) {
  int rc = 0;
  std::vector<FlagSpec> specs =
      verb == "kill" ? onlineFlags({{"reason", true, false, "why (audited, shown to the client)"}})
                     : onlineFlags({});
  auto inv = Invocation::start("sessions " + verb, args, specs, kUsage, 1, 1, &rc);
  if (!inv) return rc;
  v1::SessionService::Stub stub(inv->client().channel());
  v1::Session resp;
  auto ctx = inv->context();
  grpc::Status st;
  if (verb == "kill") {
    v1::KillSessionRequest req;
    req.set_session_id(inv->args()[0]);
    req.set_reason(inv->flags().getOr("reason", ""));
    st = stub.Kill(ctx.get(), req, &resp);
  } else {
    v1::GetSessionRequest req;
    req.set_session_id(inv->args()[0]);
    st = stub.Get(ctx.get(), req, &resp);
  }
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else if (verb == "kill") {
    std::printf("session %s: kill sent to %s\n", resp.id().c_str(),
                resp.sidecar_id().empty() ? "its sidecar" : resp.sidecar_id().c_str());
  } else {
    printSession(resp);
  }
  return kExitOk;
}

}  // namespace

int runSessions(const std::vector<std::string>& args) {
  int rc = 0;
  auto sub = subCommand(args, kUsage, &rc);
  if (!sub) return rc;
  if (sub->name == "list") return runList(sub->rest);
  if (sub->name == "show" || sub->name == "kill") return runShowOrKill(sub->name, sub->rest);
  return unknownSubCommand("sessions", sub->name, kUsage);
}

}  // namespace tollgate::ctl
