// The sidecar's control-plane client when an approver decides a grant before its "pending"
// reply is written: the GrantUpdate arrives first, and the waiting session must still settle.
#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include "sidecar/cp/control_plane_client.h"
#include "tests/sidecar/scripted_control_plane.h"
#include "tests/support/test_support.h"

namespace tollgate::sidecar::cp {
namespace {

using google::protobuf::util::TimeUtil;
using tollgate::testing::TempDir;

constexpr char kResource[] = "payments-db";
constexpr char kGrantId[] = "gr-approved-early";

// A control plane that answers every grant request the way a real one does when an approver
// was quicker than the request's reply: first the GrantUpdate with the decided grant, then the
// GrantReply saying the grant waits for approval.
class QuickApproverControlPlane final : public v1::SidecarService::Service {
 public:
  explicit QuickApproverControlPlane(v1::GrantState decided) : decided_(decided) {}

  grpc::Status Connect(grpc::ServerContext*, SidecarStream* stream) override {
    if (!welcomeSidecar(stream, "system:serviceaccount:payments-fix:repair")) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    v1::SidecarMessage in;
    while (stream->Read(&in)) {
      if (!in.has_grant_request()) continue;
      v1::Grant grant;
      grant.set_id(kGrantId);
      grant.set_resource(in.grant_request().resource());
      grant.set_role(v1::ROLE_WRITE);
      grant.set_rule("fix-write");
      *grant.mutable_expires_at() = TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(3600);
      v1::ControlMessage update;
      *update.mutable_grant_update()->mutable_grant() = grant;
      update.mutable_grant_update()->mutable_grant()->set_state(decided_);
      stream->Write(update);
      v1::ControlMessage reply;
      reply.mutable_grant_reply()->set_request_id(in.grant_request().request_id());
      auto* d = reply.mutable_grant_reply()->mutable_decision();
      d->set_outcome(v1::GrantDecision::PENDING_APPROVAL);
      *d->mutable_grant() = grant;
      d->mutable_grant()->set_state(v1::GRANT_PENDING);
      stream->Write(reply);
    }
    return grpc::Status::OK;
  }

 private:
  v1::GrantState decided_;
};

// Runs one acquire() against a scripted control plane and returns its decision, or nullopt
// when the session was still waiting after 5 s.
std::optional<AccessDecision> acquireFrom(v1::SidecarService::Service& service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  REQUIRE(server);
  REQUIRE(port > 0);

  TempDir dir;
  ClientOptions o;
  o.address = "127.0.0.1:" + std::to_string(port);
  o.token_file = dir.write("token", "a-workload-token");
  o.spool_dir = (dir.path() / "spool").string();
  o.source = "sidecar/test";
  auto client = ControlPlaneClient::create(o, ClientHooks{});
  REQUIRE(client.ok());
  (*client)->start();
  REQUIRE((*client)->waitForWelcome(std::chrono::seconds(10)));

  auto decided_promise = std::make_shared<std::promise<AccessDecision>>();
  auto result = decided_promise->get_future();
  (*client)->acquire(nullptr, kResource,
                     [decided_promise](AccessDecision d) { decided_promise->set_value(d); });
  std::optional<AccessDecision> out;
  if (result.wait_for(std::chrono::seconds(5)) == std::future_status::ready) out = result.get();
  (*client)->stop(std::chrono::milliseconds(200));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return out;
}

std::optional<AccessDecision> acquireAgainst(v1::GrantState decided) {
  QuickApproverControlPlane service(decided);
  return acquireFrom(service);
}

TEST_CASE("a grant approved before its pending reply arrives lets the waiting session in") {
  auto d = acquireAgainst(v1::GRANT_ACTIVE);
  REQUIRE(d.has_value());  // before the fix: waited for an approval that had already happened
  CHECK(d->allowed);
  CHECK(d->grant_id == kGrantId);
  CHECK(d->refuse_reason.empty());
}

TEST_CASE("a grant denied before its pending reply arrives refuses the waiting session") {
  auto d = acquireAgainst(v1::GRANT_DENIED);
  REQUIRE(d.has_value());
  CHECK_FALSE(d->allowed);
  CHECK(d->refuse_reason.find("the grant was denied") != std::string::npos);
}

// A control plane that welcomes the sidecar, then ends the stream with UNAUTHENTICATED at the
// first grant request, as a real one does when the workload's token has expired.
class RevokingControlPlane final : public v1::SidecarService::Service {
 public:
  grpc::Status Connect(grpc::ServerContext*, SidecarStream* stream) override {
    if (!welcomeSidecar(stream, "system:serviceaccount:payments-fix:repair")) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    v1::SidecarMessage in;
    while (stream->Read(&in)) {
      if (in.has_grant_request()) break;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "workload token expired");
  }
};

TEST_CASE("a stream the control plane ends says why to the sessions waiting on it") {
  RevokingControlPlane service;
  auto d = acquireFrom(service);
  REQUIRE(d.has_value());
  CHECK_FALSE(d->allowed);
  // Before the fix the client cancelled the call before reading its status: "Cancelled".
  CHECK(d->refuse_reason.find("workload token expired") != std::string::npos);
}

}  // namespace
}  // namespace tollgate::sidecar::cp
