// `tollgatectl grants request|list|revoke|approve|deny`: just-in-time access grants.
#include <cctype>
#include <cstdio>

#include "common/yaml_reader.h"
#include "policy/subject.h"
#include "tools/tollgatectl/commands.h"
#include "tools/tollgatectl/invocation.h"
#include "tools/tollgatectl/table.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/grant.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::ctl {
namespace {

constexpr const char* kUsage =
    "usage: tollgatectl grants request --subject SUBJECT --resource NAME [--role "
    "read|write|admin]\n"
    "                                  [--duration 15m] --reason TEXT\n"
    "       tollgatectl grants list [--subject S] [--resource R] [--all]\n"
    "       tollgatectl grants revoke ID [--comment TEXT]\n"
    "       tollgatectl grants approve|deny ID [--comment TEXT]   (the grant's pending approval)\n";

std::string roleWord(v1::Role r) { return enumWord(v1::Role_Name(r), "ROLE_"); }
std::string stateWord(v1::GrantState s) { return enumWord(v1::GrantState_Name(s), "GRANT_"); }

void printGrants(const std::vector<const v1::Grant*>& grants) {
  Table t({"ID", "SUBJECT", "RESOURCE", "ROLE", "STATE", "EXPIRES", "REQUESTED BY", "REASON"});
  t.limit(1, 50);
  t.limit(6, 30);
  t.limit(7, 40);
  for (const v1::Grant* g : grants) {
    // Pending grants start their clock when approved: no expiry to show yet.
    std::string expires = g->state() == v1::GRANT_ACTIVE    ? formatRelative(g->expires_at())
                          : g->state() == v1::GRANT_PENDING ? "-"
                                                            : formatTime(g->expires_at());
    std::string who = g->requested_by().display_name().empty() ? g->requested_by().subject()
                                                               : g->requested_by().display_name();
    t.add({g->id(), g->subject(), g->resource(), roleWord(g->role()), stateWord(g->state()),
           expires, who, g->reason()});
  }
  t.print();
}

int runRequest(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start(
      "grants request", args,
      onlineFlags({{"subject", true, false,
                    "workload subject: NAMESPACE/SERVICEACCOUNT or a subject string"},
                   {"resource", true, false, "resource name"},
                   {"role", true, false, "read|write|admin (default: the access rule's role)"},
                   {"duration", true, false, "how long, e.g. 15m (default and cap: the rule's)"},
                   {"reason", true, false, "why (required; kept in the audit trail)"}}),
      kUsage, 0, 0, &rc);
  if (!inv) return rc;
  const Flags& f = inv->flags();
  if (!f.has("subject") || !f.has("resource") || !f.has("reason")) {
    return inv->usageError("--subject, --resource and --reason are required");
  }
  v1::RequestGrantRequest req;
  req.set_subject(policy::expandSubject(*f.get("subject")));
  req.set_resource(*f.get("resource"));
  req.set_reason(*f.get("reason"));
  if (auto r = f.get("role")) {
    v1::Role role;
    std::string upper = "ROLE_";
    for (char c : *r) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!v1::Role_Parse(upper, &role) || role == v1::ROLE_UNSPECIFIED) {
      return inv->usageError("--role must be read, write or admin");
    }
    req.set_role(role);
  }
  if (auto d = f.get("duration")) {
    auto secs = parseDurationSeconds(*d);
    if (!secs || *secs <= 0) return inv->usageError("--duration must look like 15m or 1h");
    req.mutable_duration()->set_seconds(*secs);
  }
  v1::GrantService::Stub stub(inv->client().channel());
  v1::GrantDecision resp;
  auto ctx = inv->context();
  grpc::Status st = stub.Request(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else if (resp.outcome() == v1::GrantDecision::GRANTED) {
    const v1::Grant& g = resp.grant();
    std::printf("granted %s: %s %s on %s until %s (%s)\n", g.id().c_str(), g.subject().c_str(),
                roleWord(g.role()).c_str(), g.resource().c_str(),
                formatTime(g.expires_at()).c_str(), formatRelative(g.expires_at()).c_str());
  } else if (resp.outcome() == v1::GrantDecision::PENDING_APPROVAL) {
    const v1::Grant& g = resp.grant();
    std::printf("pending approval %s: grant %s (%s %s on %s) waits for an approver\n",
                g.approval_id().c_str(), g.id().c_str(), g.subject().c_str(),
                roleWord(g.role()).c_str(), g.resource().c_str());
  }
  if (resp.outcome() == v1::GrantDecision::DENIED) {
    return inv->problem("denied: " + resp.message());
  }
  return kExitOk;
}

int runList(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("grants list", args,
                               onlineFlags({{"subject", true, false, "only this subject"},
                                            {"resource", true, false, "only this resource"},
                                            {"all", false, false, "include ended grants"}}),
                               kUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::ListGrantsRequest req;
  req.set_subject(policy::expandSubject(inv->flags().getOr("subject", "")));
  req.set_resource(inv->flags().getOr("resource", ""));
  req.set_include_inactive(inv->flags().has("all"));
  v1::GrantService::Stub stub(inv->client().channel());
  v1::ListGrantsResponse resp;
  auto ctx = inv->context();
  grpc::Status st = stub.List(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    for (const auto& g : resp.grants()) printJson(g);
    return kExitOk;
  }
  std::vector<const v1::Grant*> grants;
  for (const auto& g : resp.grants()) grants.push_back(&g);
  printGrants(grants);
  return kExitOk;
}

// revoke, approve and deny: one grant id in, the updated grant out.
int runOne(const std::string& verb, const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("grants " + verb, args,
                               onlineFlags({{"comment", true, false, "why (audited)"}}), kUsage, 1,
                               1, &rc);
  if (!inv) return rc;
  v1::GrantIdRequest req;
  req.set_grant_id(inv->args()[0]);
  req.set_comment(inv->flags().getOr("comment", ""));
  v1::GrantService::Stub stub(inv->client().channel());
  v1::Grant resp;
  auto ctx = inv->context();
  grpc::Status st = verb == "revoke"    ? stub.Revoke(ctx.get(), req, &resp)
                    : verb == "approve" ? stub.Approve(ctx.get(), req, &resp)
                                        : stub.Deny(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else {
    std::printf("grant %s: %s\n", resp.id().c_str(), stateWord(resp.state()).c_str());
  }
  return kExitOk;
}

}  // namespace

int runGrants(const std::vector<std::string>& args) {
  int rc = 0;
  auto sub = subCommand(args, kUsage, &rc);
  if (!sub) return rc;
  if (sub->name == "request") return runRequest(sub->rest);
  if (sub->name == "list") return runList(sub->rest);
  if (sub->name == "revoke" || sub->name == "approve" || sub->name == "deny") {
    return runOne(sub->name, sub->rest);
  }
  return unknownSubCommand("grants", sub->name, kUsage);
}

}  // namespace tollgate::ctl
