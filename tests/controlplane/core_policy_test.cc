// Policy versions in the core: apply, invalid YAML positions, expected version, rollback, restart.
#include <catch2/catch_test_macros.hpp>

#include "tests/controlplane/cp_testing.h"

using namespace tollgate::controlplane;
using namespace tollgate::controlplane::testing;
namespace v1 = tollgate::v1;

namespace {

v1::ApplyPolicyRequest applyReq(const std::string& yaml, uint64_t expected = 0,
                                bool dry_run = false) {
  v1::ApplyPolicyRequest r;
  r.set_yaml(yaml);
  r.set_comment("change");
  r.set_expected_version(expected);
  r.set_dry_run(dry_run);
  return r;
}

int64_t lengthSeconds(const v1::Grant& g) {
  return g.expires_at().seconds() - g.not_before().seconds();
}

std::string withMaxDuration(const std::string& d) {
  std::string p = kPolicy;
  p.replace(p.find("maxDuration: 15m"), 16, "maxDuration: " + d);
  return p;
}

}  // namespace

TEST_CASE("the initial policy file becomes version 1; applies are versioned and audited") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  REQUIRE(cp->policies().current());
  CHECK(cp->policies().current()->version.version() == 1);
  CHECK(cp->policies().current()->version.sha256().size() == 64);

  std::vector<uint64_t> pushed;
  auto sub = cp->policies().subscribe(
      [&](const core::PolicySnapshotPtr& s) { pushed.push_back(s->version.version()); });
  auto editor = human("ed", {"policy-editor"});
  auto r = cp->policies().apply(applyReq(withMaxDuration("5m"), 1), editor);
  REQUIRE(r.ok());
  CHECK(r->errors().empty());
  CHECK(r->applied().version() == 2);
  CHECK(r->applied().author().find("ed@example.com") != std::string::npos);
  CHECK(pushed == std::vector<uint64_t>{2});

  auto stale = cp->policies().apply(applyReq(withMaxDuration("6m"), 1), editor);
  CHECK(stale.status().code() == absl::StatusCode::kFailedPrecondition);

  auto dry = cp->policies().apply(applyReq(withMaxDuration("7m"), 0, true), editor);
  REQUIRE(dry.ok());
  CHECK(dry->applied().version() == 0);
  CHECK(cp->policies().current()->version.version() == 2);
  CHECK(countEvents(cp->auditStore(), v1::EVENT_POLICY_APPLIED) == 2);
}

TEST_CASE("invalid policy YAML reports line and column and stores nothing") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  std::string bad = kPolicy;
  bad.replace(bad.find("role: read"), 10, "role: reed");
  auto r = cp->policies().apply(applyReq(bad), human("ed", {"policy-editor"}));
  REQUIRE(r.ok());
  REQUIRE(r->errors_size() >= 1);
  CHECK(r->errors(0).line() == 11);
  CHECK(r->errors(0).column() > 0);
  CHECK(r->errors(0).message().find("role") != std::string::npos);
  CHECK(cp->policies().current()->version.version() == 1);

  auto syntax = cp->policies().apply(applyReq("resources: [\n  {name: x\n"), human("e", {}));
  REQUIRE(syntax.ok());
  REQUIRE(syntax->errors_size() >= 1);
  CHECK(syntax->errors(0).line() >= 2);
}

// Review (session 23): the standalone sidecar refused a reload that lost the masking section,
// but the control plane applied it, and every sidecar stopped masking.
TEST_CASE("a policy without the masking section the current one has is refused") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  const std::string full = kPolicy;
  REQUIRE(full.find("masking:") != std::string::npos);
  const std::string cut = full.substr(0, full.find("masking:"));
  auto r = cp->policies().apply(applyReq(cut), human("ed", {"policy-editor"}));
  REQUIRE(r.ok());
  REQUIRE(r->errors_size() == 1);
  CHECK(r->errors(0).message().find("no masking section while the current one masks") !=
        std::string::npos);
  CHECK(cp->policies().current()->version.version() == 1);
  // Saying so on purpose is applied.
  auto off = cp->policies().apply(applyReq(cut + "masking: {rules: []}\n"),
                                  human("ed", {"policy-editor"}));
  REQUIRE(off.ok());
  CHECK(off->errors_size() == 0);
  CHECK(cp->policies().current()->version.version() == 2);
}

TEST_CASE("rollback creates a new version with the old YAML; history is newest first") {
  tollgate::testing::TempDir dir;
  auto cp = makeControlPlane(dir, std::make_shared<SharedManualClock>());
  auto ed = human("ed", {"policy-editor"});
  REQUIRE(cp->policies().apply(applyReq(withMaxDuration("5m")), ed).ok());
  REQUIRE(cp->policies().apply(applyReq(withMaxDuration("6m")), ed).ok());
  auto rb = cp->policies().rollback(1, "bad change", ed);
  REQUIRE(rb.ok());
  CHECK(rb->version() == 4);
  CHECK(rb->rolled_back_from() == 3);
  CHECK(rb->yaml() == std::string(kPolicy));
  CHECK(cp->policies().rollback(9, "", ed).status().code() == absl::StatusCode::kNotFound);
  auto h = cp->policies().history(2);
  REQUIRE(h.size() == 2);
  CHECK(h[0].version() == 4);
  CHECK(h[1].version() == 3);
  CHECK(h[0].yaml().empty());
  CHECK(cp->policies().get(2)->yaml() == withMaxDuration("5m"));
  CHECK(countEvents(cp->auditStore(), v1::EVENT_POLICY_ROLLED_BACK) == 1);
}

TEST_CASE("a restarted control plane keeps policy versions, grants and approvals") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<SharedManualClock>();
  std::string grant_id;
  std::string pending_id;
  {
    auto cp = makeControlPlane(dir, clock);
    REQUIRE(cp->policies().apply(applyReq(withMaxDuration("5m")), human("ed", {"admin"})).ok());
    core::GrantRequestInput in;
    in.requester = workload("ci", "loader", "pod-1");
    in.resource = "db";
    grant_id = cp->grants().request(in).value().grant().id();
    in.requester = workload("ops", "fix", "pod-2");
    auto pending = cp->grants().request(in).value();
    REQUIRE(pending.outcome() == v1::GrantDecision::PENDING_APPROVAL);
    pending_id = pending.grant().id();
  }
  auto cp = makeControlPlane(dir, clock);
  CHECK(cp->policies().current()->version.version() == 2);
  CHECK(cp->policies().history(0).size() == 2);
  auto g = cp->grants().get(grant_id);
  REQUIRE(g.ok());
  CHECK(g->state() == v1::GRANT_ACTIVE);
  CHECK(lengthSeconds(*g) == 5 * 60);
  // The pending grant can still be approved after the restart.
  cp->grants().approve(pending_id, human("a", {"approver"}, {"dba"}), "").IgnoreError();
  auto done = cp->grants().approve(pending_id, human("b", {"approver"}, {"dba"}), "");
  REQUIRE(done.ok());
  CHECK(done->state() == v1::GRANT_ACTIVE);
}
