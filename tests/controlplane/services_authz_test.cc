// Every role against every human-facing RPC over a real gRPC channel; refusals are audited.
#include <grpcpp/grpcpp.h>

#include <catch2/catch_test_macros.hpp>
#include <functional>
#include <map>

#include "controlplane/server.h"
#include "controlplane/services/grpc_headers.h"
#include "tests/controlplane/cp_testing.h"
#include "tests/controlplane/jwt_test_signer.h"

using namespace tollgate::controlplane;
using namespace tollgate::controlplane::testing;
using namespace tollgate::testing;
namespace v1 = tollgate::v1;

namespace {

constexpr const char* kHumanIssuer = "https://login.example.com";
constexpr const char* kK8sIssuer = "https://kubernetes.default.svc";
constexpr const char* kBootstrap = "0123456789abcdef0123456789abcdef-bootstrap";

struct Harness {
  TempDir dir;
  EvpPkeyPtr key = newEcKey();
  std::unique_ptr<Server> server;
  std::shared_ptr<grpc::Channel> channel;

  Harness() {
    dir.write("jwks.json", jwksText({publicJwk(key.get(), "k1")}));
    std::string boot = dir.write("bootstrap", kBootstrap);
    ControlPlaneConfig cfg;
    cfg.grpc.address = "127.0.0.1";
    cfg.grpc.port = 0;
    cfg.admin.port = 0;
    cfg.data_dir = (dir.path() / "data").string();
    cfg.policy_file = dir.write("policy.yaml", kPolicy);
    identity::IssuerConfig human;
    human.issuer = kHumanIssuer;
    human.kind = identity::PrincipalKind::kHuman;
    human.audience = "tollgate-cli";
    human.jwks_file = (dir.path() / "jwks.json").string();
    identity::IssuerConfig k8s;
    k8s.issuer = kK8sIssuer;
    k8s.kind = identity::PrincipalKind::kWorkload;
    k8s.jwks_file = human.jwks_file;
    cfg.identity.issuers = {human, k8s};
    cfg.identity.group_roles = {{"g-admin", {"admin"}},
                                {"g-editor", {"policy-editor"}},
                                {"g-approver", {"approver"}},
                                {"g-auditor", {"auditor"}}};
    cfg.identity.bootstrap_token_file = boot;
    server = std::make_unique<Server>(cfg);
    auto st = server->start();
    INFO(st.ToString());
    REQUIRE(st.ok());
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->grpcPort()),
                                  grpc::InsecureChannelCredentials());
  }

  std::string humanToken(const std::string& sub, std::vector<std::string> groups,
                         const std::string& aud = "tollgate-cli", int64_t exp_offset = 600) {
    int64_t now = time(nullptr);
    Json claims = {{"iss", kHumanIssuer},
                   {"sub", sub},
                   {"aud", aud},
                   {"iat", now},
                   {"exp", now + exp_offset},
                   {"groups", groups},
                   {"email", sub + "@example.com"}};
    return mintJwt(key.get(), "ES256", "k1", claims);
  }
  std::string workloadToken() {
    int64_t now = time(nullptr);
    Json claims = {{"iss", kK8sIssuer},
                   {"sub", "system:serviceaccount:ci:loader"},
                   {"aud", "tollgate"},
                   {"iat", now},
                   {"exp", now + 600},
                   {"kubernetes.io",
                    {{"namespace", "ci"},
                     {"serviceaccount", {{"name", "loader"}, {"uid", "sa-uid"}}},
                     {"pod", {{"name", "loader-abc"}, {"uid", "pod-uid-1"}}}}}};
    return mintJwt(key.get(), "ES256", "k1", claims);
  }
};

using Call = std::function<grpc::Status(grpc::ClientContext&)>;

std::map<std::string, Call> allCalls(const std::shared_ptr<grpc::Channel>& ch) {
  auto policy = v1::PolicyService::NewStub(ch);
  auto grants = v1::GrantService::NewStub(ch);
  auto approvals = v1::ApprovalService::NewStub(ch);
  auto sessions = v1::SessionService::NewStub(ch);
  auto audit = v1::AuditService::NewStub(ch);
  std::shared_ptr<v1::PolicyService::Stub> p(std::move(policy));
  std::shared_ptr<v1::GrantService::Stub> g(std::move(grants));
  std::shared_ptr<v1::ApprovalService::Stub> a(std::move(approvals));
  std::shared_ptr<v1::SessionService::Stub> s(std::move(sessions));
  std::shared_ptr<v1::AuditService::Stub> au(std::move(audit));
  std::map<std::string, Call> calls;
  calls["PolicyService/Apply"] = [p](grpc::ClientContext& c) {
    v1::ApplyPolicyRequest r;
    r.set_yaml(kPolicy);
    r.set_dry_run(true);
    v1::ApplyPolicyResponse out;
    return p->Apply(&c, r, &out);
  };
  calls["PolicyService/Get"] = [p](grpc::ClientContext& c) {
    v1::PolicyVersion out;
    return p->Get(&c, v1::GetPolicyRequest(), &out);
  };
  calls["PolicyService/History"] = [p](grpc::ClientContext& c) {
    v1::PolicyHistoryResponse out;
    return p->History(&c, v1::PolicyHistoryRequest(), &out);
  };
  calls["PolicyService/Rollback"] = [p](grpc::ClientContext& c) {
    v1::RollbackPolicyRequest r;
    r.set_to_version(1);
    v1::PolicyVersion out;
    return p->Rollback(&c, r, &out);
  };
  calls["PolicyService/Test"] = [p](grpc::ClientContext& c) {
    v1::TestPolicyRequest r;
    r.set_resource("db");
    r.set_sql("SELECT 1");
    v1::TestPolicyResponse out;
    return p->Test(&c, r, &out);
  };
  calls["GrantService/Request"] = [g](grpc::ClientContext& c) {
    v1::RequestGrantRequest r;
    r.set_subject("system:serviceaccount:ci:loader");
    r.set_resource("db");
    v1::GrantDecision out;
    return g->Request(&c, r, &out);
  };
  for (const char* m : {"Approve", "Deny", "Revoke"}) {
    std::string name = m;
    calls[std::string("GrantService/") + m] = [g, name](grpc::ClientContext& c) {
      v1::GrantIdRequest r;
      r.set_grant_id("gr-missing");
      v1::Grant out;
      return name == "Approve" ? g->Approve(&c, r, &out)
             : name == "Deny"  ? g->Deny(&c, r, &out)
                               : g->Revoke(&c, r, &out);
    };
  }
  calls["GrantService/List"] = [g](grpc::ClientContext& c) {
    v1::ListGrantsResponse out;
    return g->List(&c, v1::ListGrantsRequest(), &out);
  };
  calls["ApprovalService/List"] = [a](grpc::ClientContext& c) {
    v1::ListApprovalsResponse out;
    return a->List(&c, v1::ListApprovalsRequest(), &out);
  };
  calls["ApprovalService/Approve"] = [a](grpc::ClientContext& c) {
    v1::ApprovalVoteRequest r;
    r.set_approval_id("ap-missing");
    v1::Approval out;
    return a->Approve(&c, r, &out);
  };
  calls["ApprovalService/Deny"] = [a](grpc::ClientContext& c) {
    v1::ApprovalVoteRequest r;
    r.set_approval_id("ap-missing");
    v1::Approval out;
    return a->Deny(&c, r, &out);
  };
  calls["ApprovalService/Watch"] = [a](grpc::ClientContext& c) {
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    auto reader = a->Watch(&c, v1::WatchApprovalsRequest());
    v1::Approval x;
    while (reader->Read(&x)) {
    }
    grpc::Status st = reader->Finish();
    // Allowed watchers are cut by the deadline; refused ones end with their status.
    return st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? grpc::Status::OK : st;
  };
  calls["SessionService/List"] = [s](grpc::ClientContext& c) {
    v1::ListSessionsResponse out;
    return s->List(&c, v1::ListSessionsRequest(), &out);
  };
  calls["SessionService/Get"] = [s](grpc::ClientContext& c) {
    v1::GetSessionRequest r;
    r.set_session_id("missing");
    v1::Session out;
    return s->Get(&c, r, &out);
  };
  calls["SessionService/Kill"] = [s](grpc::ClientContext& c) {
    v1::KillSessionRequest r;
    r.set_session_id("missing");
    v1::Session out;
    return s->Kill(&c, r, &out);
  };
  calls["AuditService/Search"] = [au](grpc::ClientContext& c) {
    v1::SearchAuditResponse out;
    return au->Search(&c, v1::SearchAuditRequest(), &out);
  };
  calls["AuditService/Get"] = [au](grpc::ClientContext& c) {
    v1::GetAuditEventRequest r;
    r.set_sequence(1);
    v1::AuditEvent out;
    return au->Get(&c, r, &out);
  };
  calls["AuditService/Export"] = [au](grpc::ClientContext& c) {
    auto reader = au->Export(&c, v1::ExportAuditRequest());
    v1::AuditEvent e;
    while (reader->Read(&e)) {
    }
    return reader->Finish();
  };
  calls["AuditService/Verify"] = [au](grpc::ClientContext& c) {
    v1::VerifyAuditResponse out;
    return au->Verify(&c, v1::VerifyAuditRequest(), &out);
  };
  return calls;
}

bool refused(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         st.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

// Which roles may call each method (per the proto comments); "any" = any Tollgate role,
// "human" = any human even without a role.
const std::map<std::string, std::string> kAllowed = {
    {"PolicyService/Apply", "admin policy-editor"},
    {"PolicyService/Rollback", "admin policy-editor"},
    {"PolicyService/Get", "any"},
    {"PolicyService/History", "any"},
    {"PolicyService/Test", "any"},
    {"GrantService/Request", "human"},
    {"GrantService/Approve", "admin approver"},
    {"GrantService/Deny", "admin approver"},
    {"GrantService/Revoke", "admin approver"},
    {"GrantService/List", "any"},
    {"ApprovalService/List", "admin approver"},
    {"ApprovalService/Approve", "admin approver"},
    {"ApprovalService/Deny", "admin approver"},
    {"ApprovalService/Watch", "admin approver"},
    {"SessionService/List", "any"},
    {"SessionService/Get", "any"},
    {"SessionService/Kill", "admin approver"},
    {"AuditService/Search", "admin auditor"},
    {"AuditService/Get", "admin auditor"},
    {"AuditService/Export", "admin auditor"},
    {"AuditService/Verify", "admin auditor"},
};

bool expectAllowed(const std::string& method, const std::string& role) {
  const std::string& rule = kAllowed.at(method);
  if (role == "bootstrap") return true;
  if (role == "none") return rule == "human";
  if (rule == "any" || rule == "human") return true;
  return (" " + rule + " ").find(" " + role + " ") != std::string::npos;
}

}  // namespace

TEST_CASE("every role against every RPC: allowed or refused, refusals audited") {
  Harness h;
  auto calls = allCalls(h.channel);
  REQUIRE(calls.size() == kAllowed.size());
  struct Caller {
    std::string role;  // admin, policy-editor, approver, auditor, none, bootstrap
    std::string token;
  };
  std::vector<Caller> callers = {
      {"admin", h.humanToken("ann", {"g-admin"})},
      {"policy-editor", h.humanToken("pat", {"g-editor"})},
      {"approver", h.humanToken("al", {"g-approver"})},
      {"auditor", h.humanToken("aud", {"g-auditor"})},
      {"none", h.humanToken("nobody", {"unmapped"})},
      {"bootstrap", kBootstrap},
  };
  size_t expected_denials = 0;
  for (const auto& caller : callers) {
    for (const auto& [method, call] : calls) {
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + caller.token);
      grpc::Status st = call(ctx);
      bool allowed = expectAllowed(method, caller.role);
      INFO(caller.role << " " << method << " -> " << st.error_code() << " " << st.error_message());
      if (allowed) {
        CHECK_FALSE(refused(st));
      } else {
        CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
        ++expected_denials;
      }
    }
  }
  // Tokens that prove nothing, and a workload token: refused everywhere.
  std::vector<std::pair<std::string, std::string>> bad = {
      {"no token", ""},
      {"garbage", "Bearer not-a-jwt"},
      {"wrong audience", "Bearer " + h.humanToken("ann", {"g-admin"}, "someone-else")},
      {"expired", "Bearer " + h.humanToken("ann", {"g-admin"}, "tollgate-cli", -3600)},
      {"tampered", "Bearer " + h.humanToken("ann", {"g-admin"}) + "x"},
      {"workload", "Bearer " + h.workloadToken()},
  };
  for (const auto& [what, header] : bad) {
    for (const auto& [method, call] : calls) {
      grpc::ClientContext ctx;
      if (!header.empty()) ctx.AddMetadata("authorization", header);
      grpc::Status st = call(ctx);
      INFO(what << " " << method << " -> " << st.error_code() << " " << st.error_message());
      CHECK(refused(st));
      CHECK(st.error_message().find("not-a-jwt") == std::string::npos);
      ++expected_denials;
    }
  }
  auto& store = h.server->controlPlane().auditStore();
  CHECK(countEvents(store, v1::EVENT_ACCESS_DENIED) == expected_denials);
  CHECK(countEvents(store, v1::EVENT_AUDIT_ACCESS) >= 4 * 3);  // admin, auditor, bootstrap
  h.server->stop();
}

TEST_CASE("policy and grant flow over gRPC: apply errors, approval by a second identity") {
  Harness h;
  auto policy = v1::PolicyService::NewStub(h.channel);
  auto grants = v1::GrantService::NewStub(h.channel);
  std::string editor = "Bearer " + h.humanToken("pat", {"g-editor"});

  {
    v1::ApplyPolicyRequest r;
    r.set_yaml("resources:\n  - name: x\n    protocol: carrier-pigeon\n");
    v1::ApplyPolicyResponse out;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", editor);
    grpc::Status st = policy->Apply(&ctx, r, &out);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("3:") != std::string::npos);
  }
  {
    v1::ApplyPolicyRequest r;
    r.set_yaml(kPolicy);
    r.set_expected_version(1);
    r.set_comment("same again");
    v1::ApplyPolicyResponse out;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", editor);
    REQUIRE(policy->Apply(&ctx, r, &out).ok());
    CHECK(out.applied().version() == 2);
  }
  // An approver asks ahead of time for a workload; the rule needs two dba approvals.
  std::string requester = "Bearer " + h.humanToken("al", {"g-approver", "dba"});
  v1::GrantDecision d;
  {
    v1::RequestGrantRequest r;
    r.set_subject("system:serviceaccount:ops:datafix");
    r.set_resource("db");
    r.set_role(v1::ROLE_WRITE);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", requester);
    REQUIRE(grants->Request(&ctx, r, &d).ok());
    REQUIRE(d.outcome() == v1::GrantDecision::PENDING_APPROVAL);
  }
  auto vote = [&](const std::string& token) {
    v1::GrantIdRequest r;
    r.set_grant_id(d.grant().id());
    v1::Grant out;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", token);
    grpc::Status st = grants->Approve(&ctx, r, &out);
    return std::make_pair(st, out);
  };
  auto own = vote(requester);
  CHECK(own.first.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  // The admin role alone is not enough when the rule names a group.
  auto admin_no_group = vote("Bearer " + h.humanToken("ann", {"g-admin"}));
  CHECK(admin_no_group.first.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  auto first = vote("Bearer " + h.humanToken("bo", {"g-approver", "dba"}));
  REQUIRE(first.first.ok());
  CHECK(first.second.state() == v1::GRANT_PENDING);
  auto second = vote("Bearer " + h.humanToken("cy", {"g-approver", "dba"}));
  REQUIRE(second.first.ok());
  CHECK(second.second.state() == v1::GRANT_ACTIVE);
  h.server->stop();
}
