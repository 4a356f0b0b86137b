// The sidecar's control-plane client replays every audit event the control plane did not
// acknowledge, whatever the writer thread was doing when the stream came back. The control
// plane acknowledges a batch with its highest sequence, which the sidecar takes to cover all
// lower ones; so a stream that starts past an unacknowledged event loses that event for good.
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include "sidecar/cp/control_plane_client.h"
#include "tests/sidecar/scripted_control_plane.h"
#include "tests/support/test_support.h"

namespace tollgate::sidecar::cp {
namespace {

using tollgate::testing::eventually;
using tollgate::testing::TempDir;

// A control plane that stores every audit event it reads and acknowledges each batch by its
// highest sequence. On each of its first `lossy_streams` streams it dies: it stores a few
// batches, then reads one more and ends the stream without storing it, as a control plane
// killed between reading a batch and committing it would.
class DyingControlPlane final : public v1::SidecarService::Service {
 public:
  static constexpr int kBatchesPerStream = 3;
  static constexpr int kLossyStreams = 40;

  explicit DyingControlPlane(int lossy_streams = kLossyStreams) : lossy_streams_(lossy_streams) {}

  grpc::Status Connect(grpc::ServerContext*, SidecarStream* stream) override {
    if (!welcomeSidecar(stream, "system:serviceaccount:payments-ci:nightly")) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    const bool lossy = streams_.fetch_add(1) < lossy_streams_;
    v1::SidecarMessage in;
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
          events_[e.source_sequence()] = e;
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
  std::map<uint64_t, v1::AuditEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  int streams() const { return streams_.load(); }
  size_t dropped() const { return dropped_.load(); }

 private:
  const int lossy_streams_;
  mutable std::mutex mu_;
  std::set<uint64_t> stored_;
  std::map<uint64_t, v1::AuditEvent> events_;
  std::atomic<int> streams_{0};
  std::atomic<size_t> dropped_{0};
};

// A real gRPC server around `service`, and a started client connected to it.
struct Connected {
  std::unique_ptr<grpc::Server> server;
  TempDir dir;
  std::shared_ptr<ControlPlaneClient> client;

  int port = 0;

  explicit Connected(DyingControlPlane& service, size_t max_backlog_bytes = 64u << 20,
                     std::chrono::milliseconds confirm_timeout = std::chrono::seconds(30)) {
    serve(service);
    ClientOptions o;
    o.max_backlog_bytes = max_backlog_bytes;
    o.audit_confirm_timeout = confirm_timeout;
    o.address = "127.0.0.1:" + std::to_string(port);
    o.token_file = dir.write("token", "a-workload-token");
    o.spool_dir = (dir.path() / "spool").string();
    o.source = "sidecar/test";
    o.reconnect_min = std::chrono::milliseconds(1);
    o.reconnect_max = std::chrono::milliseconds(5);
    auto created = ControlPlaneClient::create(o, ClientHooks{});
    REQUIRE(created.ok());
    client = *created;
    client->start();
    REQUIRE(client->waitForWelcome(std::chrono::seconds(10)));
  }
  ~Connected() {
    client->stop(std::chrono::milliseconds(200));
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  // Starts a server for `service` (on the port of the previous one, if any).
  void serve(DyingControlPlane& service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server);
    REQUIRE(port > 0);
  }
  void down() {
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server.reset();
  }
  // Waits for the stream to notice the control plane is gone.
  bool disconnected() const {
    return eventually([&] { return !client->connected(); });
  }
  // Waits until the control plane acknowledged `sequence`.
  bool acked(uint64_t sequence) const {
    return eventually([&] { return client->ackedSequence() >= sequence; }, std::chrono::seconds(20),
                      std::chrono::milliseconds(5));
  }
};

// While alive (or until end()), no file of this process can grow past 5 bytes (RLIMIT_FSIZE):
// writes fail with EFBIG, as on a full disk.
class FilesCannotGrow {
 public:
  FilesCannotGrow() {
    std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    rlimit tiny = saved_;
    tiny.rlim_cur = 5;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &tiny) == 0);
  }
  ~FilesCannotGrow() { end(); }
  void end() {
    if (ended_) return;
    ended_ = true;
    setrlimit(RLIMIT_FSIZE, &saved_);
  }

 private:
  rlimit saved_{};
  bool ended_ = false;
};

v1::AuditEvent statementEvent(std::string statement) {
  v1::AuditEvent e;
  e.set_type(v1::EVENT_STATEMENT);
  e.mutable_action()->set_statement(std::move(statement));
  return e;
}

TEST_CASE("every audit event survives a control plane that keeps dying mid-batch") {
  DyingControlPlane service;
  Connected c(service);
  // Events arrive steadily, as a busy session's statements do, until the control plane has
  // died on all its lossy streams.
  uint64_t published = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (service.streams() <= DyingControlPlane::kLossyStreams &&
         std::chrono::steady_clock::now() < deadline) {
    c.client->publish(statementEvent("SELECT $1"));
    ++published;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  REQUIRE(service.streams() > DyingControlPlane::kLossyStreams);
  // Everything published was spooled and numbered 1..published.
  CHECK(c.acked(published));
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
}

TEST_CASE("an event carrying bytes that are not UTF-8 is stored repaired, and so is what follows") {
  DyingControlPlane service(0);
  Connected c(service);
  v1::AuditEvent odd = statementEvent("SELECT \xff\xfe FROM t");
  odd.mutable_identity()->set_subject("user-\xc3");  // a startup user name cut mid-character
  odd.mutable_action()->add_objects("caf\xe9");      // Latin-1
  c.client->publish(statementEvent("SELECT 1"));
  c.client->publish(std::move(odd));
  c.client->publish(statementEvent("SELECT 2"));
  // Before: the writer could not read the event back from its spool and skipped it; the next
  // event's acknowledgement then covered its sequence, and it was gone without a trace.
  REQUIRE(c.acked(3));
  auto events = service.events();
  REQUIRE(events.size() == 3);
  CHECK(events[1].action().statement() == "SELECT 1");
  CHECK(events[2].action().statement() == "SELECT \xEF\xBF\xBD\xEF\xBF\xBD FROM t");
  CHECK(events[2].identity().subject() == "user-\xEF\xBF\xBD");
  REQUIRE(events[2].action().objects_size() == 1);
  CHECK(events[2].action().objects(0) == "caf\xEF\xBF\xBD");
  CHECK(events[3].action().statement() == "SELECT 2");
}

TEST_CASE("long values are cut and batches stay under the control plane's message limit") {
  DyingControlPlane service(0);
  Connected c(service);
  // Thirty events of 1 MiB each would make one 30 MiB batch, over gRPC's 4 MiB default: the
  // control plane would refuse it on every reconnect and delivery would stop for good.
  constexpr int kEvents = 30;
  const std::string bulk = "INSERT INTO t VALUES " + std::string(1 << 20, 'x');
  for (int i = 0; i < kEvents; ++i) {
    v1::AuditEvent e = statementEvent(bulk);
    e.mutable_action()->add_objects("public.t");
    c.client->publish(std::move(e));
  }
  REQUIRE(c.acked(kEvents));
  auto events = service.events();
  REQUIRE(events.size() == static_cast<size_t>(kEvents));
  const std::string note = " [truncated: " + std::to_string(bulk.size()) + " bytes]";
  for (const auto& [seq, e] : events) {
    INFO("sequence " << seq);
    CHECK(e.action().statement().size() == (64u << 10) + note.size());
    CHECK(e.action().statement().ends_with(note));
    // Cutting the statement made the event fit: its table names stay.
    REQUIRE(e.action().objects_size() == 1);
    CHECK(e.action().objects(0) == "public.t");
  }
}

TEST_CASE("an event naming tens of thousands of tables keeps the first names and the count") {
  DyingControlPlane service(0);
  Connected c(service);
  // 40,000 names of 40 bytes: 1.6 MB in one event, which no batch size cap can split.
  v1::AuditEvent wide = statementEvent("SELECT $1 FROM t0, t1, ...");
  for (int i = 0; i < 40000; ++i) {
    wide.mutable_action()->add_objects("public.a_rather_long_table_name_" + std::to_string(i));
  }
  c.client->publish(std::move(wide));
  c.client->publish(statementEvent("SELECT 2"));
  REQUIRE(c.acked(2));
  auto events = service.events();
  REQUIRE(events.size() == 2);
  const auto& objects = events[1].action().objects();
  REQUIRE(objects.size() > 1000);
  CHECK(objects.size() < 40000);
  CHECK(objects.Get(0) == "public.a_rather_long_table_name_0");
  CHECK(objects.Get(objects.size() - 1) ==
        "[" + std::to_string(40000 - (objects.size() - 1)) + " more]");
  CHECK(events[1].ByteSizeLong() <= (512u << 10));
}

TEST_CASE("a failing spool write holds events back and confirms nothing until they are on disk") {
  DyingControlPlane service(0);
  Connected c(service);
  c.client->publish(statementEvent("SELECT 1"));
  REQUIRE(c.acked(1));
  // The spool file cannot grow: every append fails (EFBIG), the first part-way.
  FilesCannotGrow full;

  auto confirmed = std::make_shared<std::promise<bool>>();
  auto strict = confirmed->get_future();
  c.client->publish(statementEvent("SELECT 2"));
  c.client->publishConfirmed(statementEvent("DELETE FROM cards"),
                             [confirmed](bool ok) { confirmed->set_value(ok); });
  c.client->publish(statementEvent("SELECT 3"));
  // Before: the failed event's sequence was reused by the next one, whose acknowledgement
  // then confirmed the strict statement although its own record was never written.
  CHECK(strict.wait_for(std::chrono::milliseconds(1500)) == std::future_status::timeout);
  CHECK(c.client->ackedSequence() == 1);
  // Meanwhile the events are only in memory: sessions refuse statements rather than let them
  // pile up there (EventSink::accepting).
  CHECK_FALSE(c.client->accepting());

  full.end();
  REQUIRE(strict.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(eventually([&] { return c.client->accepting(); }));
  CHECK(strict.get());
  REQUIRE(c.acked(4));
  auto events = service.events();
  REQUIRE(events.size() == 4);
  CHECK(events[2].action().statement() == "SELECT 2");
  CHECK(events[3].action().statement() == "DELETE FROM cards");
  CHECK(events[4].action().statement() == "SELECT 3");
}

TEST_CASE("stopping waits for a control plane that comes back to take the spooled events") {
  DyingControlPlane first(0);
  DyingControlPlane second(0);
  Connected c(first);
  c.client->publish(statementEvent("SELECT 1"));
  REQUIRE(c.acked(1));
  c.down();
  REQUIRE(c.disconnected());
  // A job ends during the outage: its last events are only spooled, and a pod's spool goes
  // with the pod. Before, stop() returned at once when the stream was down.
  c.client->publish(statementEvent("SELECT 2"));
  c.client->publish(statementEvent("COMMIT"));
  auto back = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    c.serve(second);
  });
  c.client->stop(std::chrono::seconds(20));
  back.get();
  auto events = second.events();
  CHECK(events.count(2) == 1);
  CHECK(events.count(3) == 1);
  CHECK(c.client->ackedSequence() == 3);
}

TEST_CASE("past its hard backlog limit the client stops accepting, until the spool drains") {
  DyingControlPlane first(0);
  DyingControlPlane second(0);
  Connected c(first, 4096);  // new sessions refused past 4 KiB, statements past 6 KiB
  c.down();
  REQUIRE(c.disconnected());
  CHECK(c.client->accepting());
  for (int i = 0; i < 30; ++i) c.client->publish(statementEvent(std::string(500, 'q')));
  CHECK(eventually([&] { return !c.client->accepting(); }));
  c.serve(second);
  REQUIRE(c.acked(30));
  CHECK(eventually([&] { return c.client->accepting(); }));
  CHECK(second.events().size() == 30);
}

TEST_CASE("a strict-audit statement is refused when its record is not acknowledged in time") {
  DyingControlPlane service(0);
  Connected c(service, 64u << 20, std::chrono::milliseconds(1000));
  // The spool cannot be written: the record waits in memory and is never acknowledged.
  FilesCannotGrow full;
  auto answered = std::make_shared<std::promise<bool>>();
  auto strict = answered->get_future();
  c.client->publishConfirmed(statementEvent("DELETE FROM cards"),
                             [answered](bool ok) { answered->set_value(ok); });
  // Before: the session held the statement, and its client, until the disk recovered.
  const auto status = strict.wait_for(std::chrono::seconds(10));
  full.end();
  REQUIRE(status == std::future_status::ready);
  CHECK_FALSE(strict.get());
  // The record itself is still delivered once the spool takes it (answered once only).
  REQUIRE(c.acked(1));
  CHECK(service.events().at(1).action().statement() == "DELETE FROM cards");
}

}  // namespace
}  // namespace tollgate::sidecar::cp
