// Administrative actions need their audit record: with the audit store refusing writes they
// fail UNAVAILABLE and change nothing (PCI DSS 10.2); taking access away still happens.
#include <catch2/catch_test_macros.hpp>

#include "tests/controlplane/cp_testing.h"

using namespace tollgate::controlplane;
using namespace tollgate::controlplane::testing;
namespace v1 = tollgate::v1;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

core::GrantRequestInput requestFor(const v1::Identity& who, v1::Role role) {
  core::GrantRequestInput in;
  in.requester = who;
  in.resource = "db";
  in.role = role;
  return in;
}

bool saysAuditUnwritable(const absl::Status& st) {
  return st.code() == absl::StatusCode::kUnavailable &&
         st.message().find("the audit trail cannot be written") != std::string_view::npos;
}

struct Fixture {
  tollgate::testing::TempDir dir;
  std::shared_ptr<SharedManualClock> clock = std::make_shared<SharedManualClock>();
  std::shared_ptr<std::atomic<int>> refuse = std::make_shared<std::atomic<int>>(kRefuseNone);
  std::unique_ptr<core::ControlPlane> cp = makeControlPlaneRefusingAudit(dir, clock, refuse);
};

}  // namespace

// Review: Auditor::record(...).IgnoreError() let a policy be applied with no record of it.
TEST_CASE("a policy change whose audit record cannot be written is refused and not applied") {
  Fixture f;
  auto& policies = f.cp->policies();
  v1::ApplyPolicyRequest req;
  req.set_yaml(kPolicy);
  req.set_comment("second");
  *f.refuse = kRefuseAll;
  auto applied = policies.apply(req, human("alice", {"policy-editor"}));
  CHECK(saysAuditUnwritable(applied.status()));
  CHECK(policies.current()->version.version() == 1);
  CHECK(policies.history(0).size() == 1);
  CHECK(f.cp->stateStore().loadPolicyVersions()->size() == 1);
  CHECK(saysAuditUnwritable(policies.rollback(1, "", human("alice", {"admin"})).status()));
  CHECK(policies.history(0).size() == 1);

  *f.refuse = kRefuseNone;
  auto later = policies.apply(req, human("alice", {"policy-editor"}));
  REQUIRE(later.ok());
  CHECK(later->applied().version() == 2);
  CHECK(countEvents(f.cp->auditStore(), v1::EVENT_POLICY_APPLIED) == 2);
}

TEST_CASE("a grant whose audit record cannot be written is neither issued nor requested") {
  Fixture f;
  *f.refuse = kRefuseAll;
  auto issued = f.cp->grants().request(requestFor(workload("ci", "loader", "p1"), v1::ROLE_READ));
  CHECK(saysAuditUnwritable(issued.status()));
  auto pending = f.cp->grants().request(requestFor(workload("ops", "fix", "p2"), v1::ROLE_WRITE));
  CHECK(saysAuditUnwritable(pending.status()));
  CHECK(f.cp->grants().list("", "", true).empty());
  CHECK(f.cp->stateStore().loadGrants()->empty());
  CHECK(f.cp->approvals().list(true, "").empty());

  *f.refuse = kRefuseNone;
  auto ok = f.cp->grants().request(requestFor(workload("ci", "loader", "p1"), v1::ROLE_READ));
  REQUIRE(ok.ok());
  CHECK(ok->outcome() == v1::GrantDecision::GRANTED);
  CHECK(countEvents(f.cp->auditStore(), v1::EVENT_GRANT_ISSUED) == 1);
}

TEST_CASE("a vote whose audit record cannot be written is not counted") {
  Fixture f;
  auto d = f.cp->grants().request(requestFor(workload("ops", "fix", "p1"), v1::ROLE_WRITE));
  REQUIRE(d.ok());
  const std::string id = d->grant().id();
  auto alice = human("alice", {"approver"}, {"dba"});
  auto bob = human("bob", {"approver"}, {"dba"});
  REQUIRE(f.cp->grants().approve(id, alice, "").ok());
  *f.refuse = kRefuseAll;
  CHECK(saysAuditUnwritable(f.cp->grants().approve(id, bob, "").status()));
  CHECK(saysAuditUnwritable(
      f.cp->approvals().vote(d->grant().approval_id(), bob, false, "").status()));
  CHECK(f.cp->approvals().get(d->grant().approval_id())->votes_size() == 1);
  CHECK(f.cp->approvals().get(d->grant().approval_id())->state() == v1::APPROVAL_PENDING);
  CHECK(f.cp->grants().get(id)->state() == v1::GRANT_PENDING);

  *f.refuse = kRefuseNone;
  auto two = f.cp->grants().approve(id, bob, "");
  REQUIRE(two.ok());
  CHECK(two->state() == v1::GRANT_ACTIVE);
}

TEST_CASE("an approved grant becomes active only once its record is written") {
  Fixture f;
  auto d = f.cp->grants().request(requestFor(workload("ops", "fix", "p1"), v1::ROLE_WRITE));
  REQUIRE(d.ok());
  const std::string id = d->grant().id();
  REQUIRE(f.cp->grants().approve(id, human("alice", {"approver"}, {"dba"}), "").ok());
  *f.refuse = v1::EVENT_GRANT_ISSUED;  // the vote is recorded, the activation is not
  auto two = f.cp->grants().approve(id, human("bob", {"approver"}, {"dba"}), "");
  CHECK(two.status().code() == absl::StatusCode::kUnavailable);
  CHECK(f.cp->approvals().get(d->grant().approval_id())->state() == v1::APPROVAL_APPROVED);
  CHECK(f.cp->grants().get(id)->state() == v1::GRANT_PENDING);
  CHECK_FALSE(f.cp->grants().isUsableBy(id, workload("ops", "fix", "p1")));
  f.cp->grants().tick();
  CHECK(f.cp->grants().get(id)->state() == v1::GRANT_PENDING);

  *f.refuse = kRefuseNone;
  f.cp->grants().tick();
  CHECK(f.cp->grants().get(id)->state() == v1::GRANT_ACTIVE);
  CHECK(f.cp->grants().isUsableBy(id, workload("ops", "fix", "p1")));
  CHECK(countEvents(f.cp->auditStore(), v1::EVENT_GRANT_ISSUED) == 1);
}

TEST_CASE("revocation, expiry and time-outs take access away even when they cannot be recorded") {
  Fixture f;
  auto g = f.cp->grants().request(requestFor(workload("ci", "loader", "p1"), v1::ROLE_READ));
  auto h = f.cp->grants().request(requestFor(workload("ci", "other", "p2"), v1::ROLE_READ));
  auto p = f.cp->grants().request(requestFor(workload("ops", "fix", "p3"), v1::ROLE_WRITE));
  REQUIRE(g.ok());
  REQUIRE(h.ok());
  REQUIRE(p.ok());
  *f.refuse = kRefuseAll;
  auto revoked = f.cp->grants().revoke(g->grant().id(), human("root", {"admin"}), "incident");
  CHECK(saysAuditUnwritable(revoked.status()));
  CHECK(revoked.status().message().find("is revoked") != std::string_view::npos);
  CHECK(f.cp->grants().get(g->grant().id())->state() == v1::GRANT_REVOKED);

  f.clock->advance(minutes(16));  // past ci-read's 15m and ops-write's 10m approval timeout
  f.cp->approvals().tick();
  f.cp->grants().tick();
  CHECK(f.cp->grants().get(h->grant().id())->state() == v1::GRANT_EXPIRED);
  CHECK(f.cp->approvals().get(p->grant().approval_id())->state() == v1::APPROVAL_TIMED_OUT);
  CHECK(f.cp->grants().get(p->grant().id())->state() == v1::GRANT_DENIED);
}
