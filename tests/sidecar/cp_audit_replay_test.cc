// The sidecar's control-plane client replays every audit event the control plane did not
// acknowledge, whatever the writer thread was doing when the stream came back. The control
// plane acknowledges a batch with its highest sequence, which the sidecar takes to cover all
// lower ones; so a stream that starts past an unacknowledged event loses that event for good.
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "sidecar/cp/control_plane_client.h"
#include "tests/support/test_support.h"

namespace tollgate::sidecar::cp {
namespace {

using tollgate::testing::TempDir;

// A control plane that dies often: on each of its first `lossy_streams` streams it stores and
// acknowledges a few audit batches, then reads one more batch and ends the stream without
// storing it, as a control plane killed between reading a batch and committing it would.
class DyingControlPlane final : public v1::SidecarService::Service {
 public:
  static constexpr int kBatchesPerStream = 3;
  static constexpr int kLossyStreams = 40;

  grpc::Status Connect(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::ControlMessage, v1::SidecarMessage>* stream) override {
    v1::SidecarMessage in;
    if (!stream->Read(&in) || !in.has_hello()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    const bool lossy = streams_.fetch_add(1) < kLossyStreams;
    v1::ControlMessage welcome;
    welcome.mutable_welcome()->mutable_identity()->set_subject(
        "system:serviceaccount:payments-ci:nightly");
    welcome.mutable_welcome()->set_heartbeat_seconds(30);
    stream->Write(welcome);
    int stored = 0;
    while (stream->Read(&in)) {
      if (!in.has_audit() || in.audit().events().empty()) continue;
      if (lossy && stored == kBatchesPerStream) {
        dropped_.fetch_add(static_cast<size_t>(in.audit().events_size()));
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "killed");
      }
      uint64_t highest = 0;
      {
        std::lock_guard lock(mu_);
        for (const auto& e : in.audit().events()) {
          stored_.insert(e.source_sequence());
          highest = std::max(highest, e.source_sequence());
        }
      }
      ++stored;
      v1::ControlMessage ack;
      ack.mutable_audit_ack()->set_sequence(highest);
      stream->Write(ack);
    }
    return grpc::Status::OK;
  }

  std::set<uint64_t> stored() const {
    std::lock_guard lock(mu_);
    return stored_;
  }
  int streams() const { return streams_.load(); }
  size_t dropped() const { return dropped_.load(); }

 private:
  mutable std::mutex mu_;
  std::set<uint64_t> stored_;
  std::atomic<int> streams_{0};
  std::atomic<size_t> dropped_{0};
};

TEST_CASE("every audit event survives a control plane that keeps dying mid-batch") {
  DyingControlPlane service;
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
  o.reconnect_min = std::chrono::milliseconds(1);
  o.reconnect_max = std::chrono::milliseconds(5);
  auto client = ControlPlaneClient::create(o, ClientHooks{});
  REQUIRE(client.ok());
  (*client)->start();
  REQUIRE((*client)->waitForWelcome(std::chrono::seconds(10)));

  // Events arrive steadily, as a busy session's statements do, until the control plane has
  // died on all its lossy streams.
  uint64_t published = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (service.streams() <= DyingControlPlane::kLossyStreams &&
         std::chrono::steady_clock::now() < deadline) {
    v1::AuditEvent e;
    e.set_type(v1::EVENT_STATEMENT);
    e.mutable_action()->set_statement("SELECT $1");
    (*client)->publish(std::move(e));
    ++published;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  REQUIRE(service.streams() > DyingControlPlane::kLossyStreams);
  // Everything published was spooled and numbered 1..published; wait for the last ack.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((*client)->ackedSequence() < published && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (*client)->stop(std::chrono::milliseconds(200));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));

  INFO("published " << published << ", dropped in flight " << service.dropped() << " over "
                    << service.streams() << " streams");
  CHECK(service.dropped() > 0);  // the control plane did lose batches in flight
  auto stored = service.stored();
  std::string missing;
  for (uint64_t seq = 1; seq <= published; ++seq) {
    if (!stored.count(seq)) missing += " " + std::to_string(seq);
  }
  INFO("never stored:" << missing);
  CHECK(missing.empty());
  CHECK((*client)->ackedSequence() == published);
}

}  // namespace
}  // namespace tollgate::sidecar::cp
