// Grants and approvals in the control-plane core: rules, caps, votes, timeouts, expiry, revoke.
#include <catch2/catch_test_macros.hpp>

#include "tests/controlplane/cp_testing.h"

using namespace tollgate::controlplane;
using namespace tollgate::controlplane::testing;
namespace v1 = tollgate::v1;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

core::GrantRequestInput requestFor(const v1::Identity& who, v1::Role role,
                                   seconds duration = seconds(0)) {
  core::GrantRequestInput in;
  in.requester = who;
  in.resource = "db";
  in.role = role;
  in.duration = duration;
  return in;
}

// An admin's ahead-of-time request of a write grant for ops/datafix (its rule needs approval):
// pending, bound to no pod.
v1::GrantDecision aheadOfTimeRequest(core::ControlPlane& cp, const v1::Identity& admin) {
  core::GrantRequestInput in = requestFor(admin, v1::ROLE_WRITE);
  in.subject = "system:serviceaccount:ops:datafix";
  return cp.grants().request(in).value();
}

int64_t lengthSeconds(const v1::Grant& g) {
  return g.expires_at().seconds() - g.not_before().seconds();
}

}  // namespace

TEST_CASE("an auto-granted read grant is bound to the pod and capped at the rule maximum") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  auto cp = makeControlPlane(dir, clock);
  auto job = workload("ci", "loader", "pod-1");

  auto d = cp->grants().request(requestFor(job, v1::ROLE_READ, std::chrono::hours(2))).value();
  REQUIRE(d.outcome() == v1::GrantDecision::GRANTED);
  CHECK(d.grant().state() == v1::GRANT_ACTIVE);
  CHECK(d.grant().pod_uid() == "pod-1");
  CHECK(d.grant().rule() == "ci-read");
  CHECK(lengthSeconds(d.grant()) == 15 * 60);

  auto shorter =
      cp->grants()
          .request(requestFor(workload("ci", "other", "pod-9"), v1::ROLE_UNSPECIFIED, seconds(60)))
          .value();
  REQUIRE(shorter.outcome() == v1::GrantDecision::GRANTED);
  CHECK(lengthSeconds(shorter.grant()) == 60);
  CHECK(shorter.grant().role() == v1::ROLE_READ);

  // The same pod asking again gets the same grant; another pod of the same account does not.
  auto again = cp->grants().request(requestFor(job, v1::ROLE_READ)).value();
  CHECK(again.grant().id() == d.grant().id());
  auto other_pod =
      cp->grants().request(requestFor(workload("ci", "loader", "pod-2"), v1::ROLE_READ)).value();
  CHECK(other_pod.grant().id() != d.grant().id());
  CHECK_FALSE(cp->grants().isUsableBy(d.grant().id(), workload("ci", "loader", "pod-2")));
  CHECK(cp->grants().isUsableBy(d.grant().id(), job));
  CHECK(countEvents(cp->auditStore(), v1::EVENT_GRANT_ISSUED) == 3);
}

TEST_CASE("grant denials name the reason: no rule, role above the rule, unknown resource") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());

  auto none = cp->grants().request(requestFor(workload("web", "app", "p"), v1::ROLE_READ)).value();
  CHECK(none.outcome() == v1::GrantDecision::DENIED);
  CHECK(none.message().find("no access rule matches") != std::string::npos);

  auto above =
      cp->grants().request(requestFor(workload("ci", "loader", "p"), v1::ROLE_WRITE)).value();
  CHECK(above.outcome() == v1::GrantDecision::DENIED);
  CHECK(above.message().find("ci-read") != std::string::npos);

  auto in = requestFor(workload("ci", "loader", "p"), v1::ROLE_READ);
  in.resource = "nope";
  CHECK(cp->grants().request(in).value().outcome() == v1::GrantDecision::DENIED);

  auto foreign = requestFor(workload("ci", "loader", "p"), v1::ROLE_READ);
  foreign.subject = "system:serviceaccount:ci:someone-else";
  CHECK(cp->grants().request(foreign).value().outcome() == v1::GrantDecision::DENIED);
  CHECK(countEvents(cp->auditStore(), v1::EVENT_GRANT_DENIED) == 4);
}

TEST_CASE("a role outside the enum is denied, not granted") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  for (int role : {-1, 7}) {
    INFO(role);
    auto d =
        cp->grants()
            .request(requestFor(workload("ci", "nightly", "pod-1"), static_cast<v1::Role>(role)))
            .value();
    CHECK(d.outcome() == v1::GrantDecision::DENIED);
    CHECK(d.message().find("unknown role") != std::string::npos);
  }
}

TEST_CASE("a pending grant needs two distinct approvers from the group, never the requester") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  auto cp = makeControlPlane(dir, clock);
  std::vector<v1::Grant> seen;
  std::mutex mu;
  auto sub = cp->grants().subscribe([&](const v1::Grant& g) {
    std::lock_guard lock(mu);
    seen.push_back(g);
  });

  auto d =
      cp->grants().request(requestFor(workload("ops", "datafix", "pod-7"), v1::ROLE_WRITE)).value();
  REQUIRE(d.outcome() == v1::GrantDecision::PENDING_APPROVAL);
  const std::string id = d.grant().id();
  auto approval = cp->approvals().get(d.grant().approval_id());
  REQUIRE(approval.ok());
  CHECK(approval->kind() == v1::Approval::KIND_GRANT);
  CHECK(approval->required_approvals() == 2);
  CHECK(approval->approver_group() == "dba");

  auto alice = human("alice", {"approver"}, {"dba"});
  auto bob = human("bob", {"approver"}, {"dba"});
  auto carol = human("carol", {"approver"}, {"web"});
  auto dave = human("dave", {"auditor"}, {"dba"});

  CHECK(cp->grants().approve(id, carol, "").status().code() ==
        absl::StatusCode::kPermissionDenied);  // not in the group
  CHECK(cp->grants().approve(id, dave, "").status().code() ==
        absl::StatusCode::kPermissionDenied);  // not an approver
  auto one = cp->grants().approve(id, alice, "ok");
  REQUIRE(one.ok());
  CHECK(one->state() == v1::GRANT_PENDING);
  CHECK(cp->grants().approve(id, alice, "again").status().code() ==
        absl::StatusCode::kAlreadyExists);
  clock->advance(minutes(3));
  auto two = cp->grants().approve(id, bob, "ok");
  REQUIRE(two.ok());
  CHECK(two->state() == v1::GRANT_ACTIVE);
  CHECK(two->approvers_size() == 2);
  CHECK(lengthSeconds(*two) == 30 * 60);  // the time box starts at activation
  CHECK(two->not_before().seconds() == 1735689600 + 180);
  {
    std::lock_guard lock(mu);
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back().state() == v1::GRANT_ACTIVE);
  }
}

TEST_CASE("the requester cannot approve its own grant request") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  auto admin = human("root", {"admin", "approver"}, {"dba"});
  auto d = aheadOfTimeRequest(*cp, admin);
  REQUIRE(d.outcome() == v1::GrantDecision::PENDING_APPROVAL);
  CHECK(d.grant().pod_uid().empty());
  auto own = cp->grants().approve(d.grant().id(), admin, "me");
  CHECK(own.status().code() == absl::StatusCode::kPermissionDenied);

  // Without approver/admin, a human cannot ask ahead of time when the rule needs approval.
  core::GrantRequestInput plain = requestFor(human("eve", {}), v1::ROLE_WRITE);
  plain.subject = "system:serviceaccount:ops:datafix";
  CHECK(cp->grants().request(plain).value().outcome() == v1::GrantDecision::DENIED);

  // The ahead-of-time grant, once approved, binds to the first pod that claims it.
  cp->grants().approve(d.grant().id(), human("a", {"approver"}, {"dba"}), "").IgnoreError();
  cp->grants().approve(d.grant().id(), human("b", {"approver"}, {"dba"}), "").IgnoreError();
  auto first = cp->grants().claimGrantsFor(workload("ops", "datafix", "pod-a"));
  REQUIRE(first.size() == 1);
  CHECK(first[0].pod_uid() == "pod-a");
  CHECK(cp->grants().claimGrantsFor(workload("ops", "datafix", "pod-b")).empty());
}

// Review (session 22): a pod reporting a session under another workload's grant id bound that
// grant to itself.
TEST_CASE("a grant binds only to a pod of the workload it was made for") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  auto admin = human("root", {"admin", "approver"}, {"dba"});
  auto d = aheadOfTimeRequest(*cp, admin);
  REQUIRE(d.outcome() == v1::GrantDecision::PENDING_APPROVAL);
  const std::string id = d.grant().id();
  CHECK(cp->grants().bind(id, workload("ops", "datafix", "pod-a")).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // not approved yet
  cp->grants().approve(id, human("a", {"approver"}, {"dba"}), "").IgnoreError();
  cp->grants().approve(id, human("b", {"approver"}, {"dba"}), "").IgnoreError();
  auto intruder = cp->grants().bind(id, workload("ci", "nightly", "pod-x"));
  CHECK(intruder.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(cp->grants().bind(id, workload("ops", "datafix", "")).status().code() ==
        absl::StatusCode::kInvalidArgument);
  auto own = cp->grants().bind(id, workload("ops", "datafix", "pod-a"));
  REQUIRE(own.ok());
  CHECK(own->pod_uid() == "pod-a");
  CHECK(cp->grants().bind(id, workload("ops", "datafix", "pod-b")).status().code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(cp->grants().bind("no-such-grant", workload("ops", "datafix", "pod-a")).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("one deny decides, and an approval nobody decides times out as denied") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  auto cp = makeControlPlane(dir, clock);
  auto a = cp->grants().request(requestFor(workload("ops", "x", "p1"), v1::ROLE_WRITE)).value();
  auto b = cp->grants().request(requestFor(workload("ops", "y", "p2"), v1::ROLE_WRITE)).value();
  REQUIRE(a.outcome() == v1::GrantDecision::PENDING_APPROVAL);
  REQUIRE(b.outcome() == v1::GrantDecision::PENDING_APPROVAL);

  auto denied = cp->grants().deny(a.grant().id(), human("alice", {"approver"}, {"dba"}), "no");
  REQUIRE(denied.ok());
  CHECK(denied->state() == v1::GRANT_DENIED);
  CHECK(cp->approvals().get(a.grant().approval_id())->state() == v1::APPROVAL_DENIED);

  clock->advance(minutes(9));
  cp->approvals().tick();
  CHECK(cp->grants().get(b.grant().id())->state() == v1::GRANT_PENDING);
  clock->advance(minutes(2));
  cp->approvals().tick();
  CHECK(cp->approvals().get(b.grant().approval_id())->state() == v1::APPROVAL_TIMED_OUT);
  CHECK(cp->grants().get(b.grant().id())->state() == v1::GRANT_DENIED);
  CHECK(countEvents(cp->auditStore(), v1::EVENT_APPROVAL_TIMED_OUT) == 1);
}

TEST_CASE("expiry fires at expires_at and revocation notifies subscribers") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  auto cp = makeControlPlane(dir, clock);
  std::vector<v1::Grant> seen;
  std::mutex mu;
  auto sub = cp->grants().subscribe([&](const v1::Grant& g) {
    std::lock_guard lock(mu);
    seen.push_back(g);
  });
  auto job = workload("ci", "loader", "pod-1");
  auto g1 = cp->grants().request(requestFor(job, v1::ROLE_READ, seconds(60))).value().grant();
  auto g2 =
      cp->grants().request(requestFor(workload("ci", "b", "pod-2"), v1::ROLE_READ)).value().grant();

  clock->advance(seconds(59));
  cp->grants().tick();
  CHECK(cp->grants().get(g1.id())->state() == v1::GRANT_ACTIVE);
  clock->advance(seconds(1));
  cp->grants().tick();
  CHECK(cp->grants().get(g1.id())->state() == v1::GRANT_EXPIRED);
  CHECK_FALSE(cp->grants().isUsableBy(g1.id(), job));

  auto revoked = cp->grants().revoke(g2.id(), human("alice", {"admin"}), "incident");
  REQUIRE(revoked.ok());
  CHECK(revoked->state() == v1::GRANT_REVOKED);
  CHECK(cp->grants().revoke(g2.id(), human("alice", {"admin"}), "").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  {
    std::lock_guard lock(mu);
    REQUIRE(seen.size() >= 4);
    CHECK(seen[seen.size() - 2].state() == v1::GRANT_EXPIRED);
    CHECK(seen.back().state() == v1::GRANT_REVOKED);
  }
  CHECK(countEvents(cp->auditStore(), v1::EVENT_GRANT_EXPIRED) == 1);
  CHECK(countEvents(cp->auditStore(), v1::EVENT_GRANT_REVOKED) == 1);
  CHECK(cp->grants().list("", "", false).empty());
  CHECK(cp->grants().list("", "", true).size() == 2);
}

TEST_CASE("the expiry thread expires a grant without anyone calling tick") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  auto cp = makeControlPlane(dir, clock);
  auto g =
      cp->grants().request(requestFor(workload("ci", "l", "p"), v1::ROLE_READ, seconds(5))).value();
  clock->advance(seconds(6));
  auto deadline = std::chrono::steady_clock::now() + seconds(3);
  while (cp->grants().get(g.grant().id())->state() != v1::GRANT_EXPIRED &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(cp->grants().get(g.grant().id())->state() == v1::GRANT_EXPIRED);
}

TEST_CASE("statement approvals: votes, own request refused, cancel") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  core::StatementApprovalInput in;
  in.requester = workload("ci", "loader", "pod-1");
  in.resource = "db";
  in.statement = "DELETE FROM t";
  in.statement_class = "write";
  in.rule = "guardrail:unbounded-delete";
  in.session_id = "s-1";
  in.approvers = {"", 1, 60};
  auto a = cp->approvals().createStatementApproval(in);
  REQUIRE(a.ok());
  CHECK(a->state() == v1::APPROVAL_PENDING);
  CHECK(a->deadline().seconds() == a->created_at().seconds() + 60);
  CHECK(cp->approvals().list(false, "").size() == 1);
  auto ok = cp->approvals().vote(a->id(), human("alice", {"approver"}), true, "fine");
  REQUIRE(ok.ok());
  CHECK(ok->state() == v1::APPROVAL_APPROVED);
  CHECK(cp->approvals().vote(a->id(), human("bob", {"approver"}), false, "").status().code() ==
        absl::StatusCode::kFailedPrecondition);

  auto b = cp->approvals().createStatementApproval(in);
  REQUIRE(b.ok());
  CHECK(cp->approvals().cancel(b->id(), "session ended")->state() == v1::APPROVAL_CANCELLED);
  CHECK(cp->approvals().list(false, "").empty());
  CHECK(cp->approvals().list(true, "db").size() == 2);
}

// Review: with the expiry pass running every 200 ms, votes 95-175 ms past the deadline were
// counted and turned grants ACTIVE.
TEST_CASE("a vote after the deadline is refused and the approval times out") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  auto cp = makeControlPlane(dir, clock);
  auto d = cp->grants().request(requestFor(workload("ops", "late", "p1"), v1::ROLE_WRITE)).value();
  REQUIRE(d.outcome() == v1::GrantDecision::PENDING_APPROVAL);
  const std::string id = d.grant().id();
  REQUIRE(cp->grants().approve(id, human("alice", {"approver"}, {"dba"}), "").ok());
  clock->advance(minutes(10) + std::chrono::milliseconds(95));  // deadline + 95 ms, no tick
  auto late = cp->grants().approve(id, human("bob", {"approver"}, {"dba"}), "");
  CHECK(late.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(late.status().message().find("expired") != std::string_view::npos);
  CHECK(cp->approvals().get(d.grant().approval_id())->state() == v1::APPROVAL_TIMED_OUT);
  CHECK(cp->approvals().get(d.grant().approval_id())->votes_size() == 1);
  CHECK(cp->grants().get(id)->state() == v1::GRANT_DENIED);
  CHECK(countEvents(cp->auditStore(), v1::EVENT_APPROVAL_TIMED_OUT) == 1);

  core::StatementApprovalInput in;
  in.requester = workload("ci", "loader", "pod-1");
  in.resource = "db";
  in.statement = "DELETE FROM t";
  in.approvers = {"", 1, 1};
  auto a = cp->approvals().createStatementApproval(in);
  REQUIRE(a.ok());
  clock->advance(seconds(1));  // exactly at the deadline
  auto at = cp->approvals().vote(a->id(), human("alice", {"approver"}), true, "");
  CHECK(at.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cp->approvals().get(a->id())->state() == v1::APPROVAL_TIMED_OUT);
  CHECK(cp->approvals().vote(a->id(), human("bob", {"approver"}), true, "").status().message() ==
        "approval " + a->id() + " is already timed out");
  CHECK(countEvents(cp->auditStore(), v1::EVENT_APPROVAL_TIMED_OUT) == 2);
}
