// The audit source of a sidecar stream (the key replays are de-duplicated on) comes from the
// workload token, not from the sidecar's Hello. It used to be Hello.instance_id, which the
// sidecar sets to "sidecar/<pod name>": pods named alike in two namespaces, a pod recreated
// under its name, and any workload claiming another pod's name shared one source, and the
// later events were dropped as replays (and acknowledged, so the sidecar deleted them).
// A real control plane, authenticator and SidecarService over gRPC; the sidecars are this
// test speaking the protocol by hand.
#include <catch2/catch_test_macros.hpp>

#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "controlplane/stream/sidecar_instance.h"
#include "controlplane/stream/sidecar_service.h"
#include "tests/controlplane/cp_testing.h"
#include "tests/controlplane/jwt_test_signer.h"

namespace tollgate::controlplane::stream {
namespace {

using controlplane::testing::SharedManualClock;
using tollgate::testing::Json;
using tollgate::testing::TempDir;

constexpr char kIssuer[] = "https://kubernetes.default.svc";

struct Pod {
  std::string ns;
  std::string name;
  std::string uid;
  std::string sa = "migrate";
};

// A control plane trusting one workload issuer, serving SidecarService on a local port.
class StreamServer {
 public:
  explicit StreamServer(StreamOptions stream_options = {}) {
    identity::IdentityConfig config;
    config.issuers.push_back(
        {kIssuer, identity::PrincipalKind::kWorkload, "tollgate",
         dir_.write("k8s-jwks.json",
                    tollgate::testing::jwksText({tollgate::testing::publicJwk(key_.get(), "k")}))});
    auto auth = identity::Authenticator::create(config, clock_);
    REQUIRE(auth.ok());
    core::ControlPlaneOptions options;
    options.data_dir = (dir_.path() / "data").string();
    options.policy_file = dir_.write("policy.yaml", controlplane::testing::kPolicy);
    options.credentials_dir = (dir_.path() / "secrets").string();
    options.replica_name = "test";
    options.clock = clock_;
    auto cp = core::ControlPlane::create(options, *std::move(auth));
    INFO(cp.status().ToString());
    REQUIRE(cp.ok());
    cp_ = *std::move(cp);
    service_ = std::make_unique<SidecarServiceImpl>(*cp_, stream_options);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ > 0);
  }
  ~StreamServer() { server_->Shutdown(std::chrono::system_clock::now()); }

  // A projected ServiceAccount token bound to `pod`, signed by the trusted issuer.
  std::string token(const Pod& pod) const {
    auto now = static_cast<long>(std::chrono::system_clock::to_time_t(clock_->now()));
    Json claims = {{"iss", kIssuer},
                   {"sub", "system:serviceaccount:" + pod.ns + ":" + pod.sa},
                   {"aud", Json::array({"tollgate"})},
                   {"iat", now},
                   {"nbf", now - 5},
                   {"exp", now + 600},
                   {"kubernetes.io",
                    {{"namespace", pod.ns},
                     {"serviceaccount", {{"name", pod.sa}, {"uid", "sa-uid"}}},
                     {"pod", {{"name", pod.name}, {"uid", pod.uid}}}}}};
    return tollgate::testing::mintJwt(key_.get(), "RS256", "k", claims);
  }

  std::shared_ptr<grpc::Channel> channel() const {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                               grpc::InsecureChannelCredentials());
  }

  // Every stored sidecar statement event: its detail ("<who> <sequence>") -> its source.
  std::multimap<std::string, std::string> stored() {
    audit::SearchFilter f;
    f.types = {v1::EVENT_STATEMENT};
    f.limit = audit::kMaxSearchLimit;
    auto r = cp_->auditStore().search(f);
    REQUIRE(r.ok());
    std::multimap<std::string, std::string> out;
    for (const auto& e : r->events()) out.emplace(e.action().detail(), e.location().source());
    return out;
  }

  size_t liveStreams() const { return service_->liveStreams(); }
  absl::StatusOr<v1::Session> session(const std::string& id) const {
    return cp_->sessions().get(id);
  }

 private:
  TempDir dir_;
  tollgate::controlplane::identity::EvpPkeyPtr key_ = tollgate::testing::newRsaKey();
  std::shared_ptr<SharedManualClock> clock_ = std::make_shared<SharedManualClock>();
  std::unique_ptr<core::ControlPlane> cp_;
  std::unique_ptr<SidecarServiceImpl> service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// One sidecar stream, spoken by hand: Hello with what the real sidecar sends
// (instance_id "sidecar/<pod name>" unless told otherwise), then numbered audit batches.
class Sidecar {
 public:
  Sidecar(StreamServer& server, Pod pod, std::string tag)
      : server_(server), pod_(std::move(pod)), tag_(std::move(tag)) {}
  ~Sidecar() {
    if (stream_) close();
  }

  // Opens the stream; the Welcome, or nullopt when the control plane ended the stream.
  std::optional<v1::Welcome> connect(uint64_t spooled = 0, std::string instance_id = "") {
    if (instance_id.empty()) instance_id = "sidecar/" + pod_.name;
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    stub_ = v1::SidecarService::NewStub(server_.channel());
    stream_ = stub_->Connect(context_.get());
    v1::SidecarMessage m;
    v1::Hello* h = m.mutable_hello();
    h->set_token(server_.token(pod_));
    h->set_pod_name(pod_.name);
    h->set_pod_namespace(pod_.ns);
    h->set_pod_uid(pod_.uid);
    h->set_instance_id(instance_id);
    h->set_spooled_sequence(spooled);
    v1::ControlMessage in;
    if (!stream_->Write(m) || !stream_->Read(&in) || !in.has_welcome()) return std::nullopt;
    return in.welcome();
  }

  // Sends events [from, to] in one batch, detail "<tag> <sequence>"; the acknowledged sequence,
  // or nullopt when the stream ended first.
  std::optional<uint64_t> send(uint64_t from, uint64_t to) {
    v1::SidecarMessage m;
    for (uint64_t seq = from; seq <= to; ++seq) {
      v1::AuditEvent* e = m.mutable_audit()->add_events();
      e->set_type(v1::EVENT_STATEMENT);
      e->set_source_sequence(seq);
      e->mutable_location()->set_source("sidecar/" + pod_.name);
      e->mutable_action()->set_detail(tag_ + " " + std::to_string(seq));
    }
    if (!stream_->Write(m)) return std::nullopt;
    v1::ControlMessage in;
    while (stream_->Read(&in)) {
      if (in.has_audit_ack()) return in.audit_ack().sequence();
    }
    return std::nullopt;
  }

  // Reports session `id` (ended or live, with `statements`), then waits until the control plane
  // has read it: the stream is handled in order, so the ack of a batch sent after it will do.
  bool report(const std::string& id, bool ended, uint64_t statements, uint64_t sync_sequence) {
    v1::SidecarMessage m;
    v1::SessionReport* r = m.mutable_session();
    r->set_session_id(id);
    r->set_resource("payments-db");
    r->set_protocol("postgres");
    r->set_ended(ended);
    r->set_statements(statements);
    return stream_->Write(m) && send(sync_sequence, sync_sequence) == sync_sequence;
  }

  grpc::Status close() {
    stream_->WritesDone();
    v1::ControlMessage in;
    while (stream_->Read(&in)) {
    }
    grpc::Status st = stream_->Finish();
    stream_.reset();
    return st;
  }

  const std::string& tag() const { return tag_; }

 private:
  StreamServer& server_;
  Pod pod_;
  std::string tag_;
  std::unique_ptr<v1::SidecarService::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SidecarMessage, v1::ControlMessage>> stream_;
};

// The events of `tag` numbered [from, to] that are not stored (by their detail).
std::string missing(const std::multimap<std::string, std::string>& stored, const std::string& tag,
                    uint64_t from, uint64_t to) {
  std::string out;
  for (uint64_t seq = from; seq <= to; ++seq) {
    if (stored.count(tag + " " + std::to_string(seq)) != 1) out += " " + std::to_string(seq);
  }
  return out;
}

std::string sourceOf(const std::multimap<std::string, std::string>& stored,
                     const std::string& detail) {
  auto it = stored.find(detail);
  return it == stored.end() ? "" : it->second;
}

TEST_CASE("pods named alike in two namespaces both get every audit event stored",
          "[stream][audit]") {
  StreamServer server;
  Sidecar staging(server, {"staging", "migrate-0", "11111111-0000-4000-8000-000000000001"},
                  "staging");
  Sidecar prod(server, {"prod", "migrate-0", "22222222-0000-4000-8000-000000000002"}, "prod");
  REQUIRE(staging.connect());
  REQUIRE(staging.send(1, 5) == 5u);
  REQUIRE(prod.connect());
  // Neither replaces the other's stream: both keep sending.
  CHECK(prod.send(1, 5) == 5u);
  CHECK(staging.send(6, 8) == 8u);
  CHECK(prod.send(6, 8) == 8u);
  CHECK(server.liveStreams() == 2);

  auto stored = server.stored();
  CHECK(missing(stored, "staging", 1, 8).empty());
  CHECK(missing(stored, "prod", 1, 8).empty());
  CHECK(sourceOf(stored, "staging 1") ==
        "sidecar/staging/migrate-0/11111111-0000-4000-8000-000000000001");
  CHECK(sourceOf(stored, "prod 1") ==
        "sidecar/prod/migrate-0/22222222-0000-4000-8000-000000000002");
}

TEST_CASE("a pod recreated under its name, numbering again from 1, gets every event stored",
          "[stream][audit]") {
  StreamServer server;
  {
    Sidecar first(server, {"prod", "migrate-0", "33333333-0000-4000-8000-000000000003"}, "first");
    REQUIRE(first.connect());
    REQUIRE(first.send(1, 10) == 10u);
    CHECK(first.close().ok());
  }
  // The StatefulSet recreates the pod: same name, new uid, a fresh emptyDir spool.
  Sidecar second(server, {"prod", "migrate-0", "44444444-0000-4000-8000-000000000004"}, "second");
  auto welcome = second.connect(/*spooled=*/0);
  REQUIRE(welcome);
  CHECK(welcome->acked_sequence() == 0);  // nothing of the old pod's counts for this one
  REQUIRE(second.send(1, 4) == 4u);

  auto stored = server.stored();
  CHECK(missing(stored, "first", 1, 10).empty());
  CHECK(missing(stored, "second", 1, 4).empty());
}

TEST_CASE("a Hello naming another pod's instance cannot get that pod's events dropped",
          "[stream][audit]") {
  StreamServer server;
  const Pod victim{"payments", "api-0", "55555555-0000-4000-8000-000000000005", "api"};
  const Pod attacker{"sandbox", "evil-0", "66666666-0000-4000-8000-000000000006", "evil"};
  const Pod attacker2{"sandbox", "evil-1", "88888888-0000-4000-8000-000000000008", "evil"};
  const std::string victim_instance = "sidecar/payments/api-0/" + victim.uid;

  Sidecar real(server, victim, "victim");
  REQUIRE(real.connect());
  REQUIRE(real.send(1, 2) == 2u);

  // Another workload, with its own valid token, claims the victim's name (what the victim's
  // sidecar sends) and its full instance, and pre-stores sequences the victim has not used yet.
  Sidecar by_name(server, attacker, "forged-by-name");
  REQUIRE(by_name.connect(0, "sidecar/api-0"));
  CHECK(by_name.send(1, 6) == 6u);
  Sidecar by_instance(server, attacker2, "forged-by-instance");
  REQUIRE(by_instance.connect(0, victim_instance));
  CHECK(by_instance.send(3, 6) == 6u);

  // The victim's stream was not replaced, and its next events are stored.
  CHECK(real.send(3, 6) == 6u);
  auto stored = server.stored();
  CHECK(missing(stored, "victim", 1, 6).empty());
  CHECK(sourceOf(stored, "victim 3") == victim_instance);
  // The forged events are stored, under the attacker's own pod.
  CHECK(sourceOf(stored, "forged-by-name 3") == "sidecar/sandbox/evil-0/" + attacker.uid);
  CHECK(sourceOf(stored, "forged-by-instance 3") == "sidecar/sandbox/evil-1/" + attacker2.uid);
}

TEST_CASE("a reconnecting sidecar is welcomed with the sequence stored for its pod",
          "[stream][audit]") {
  StreamServer server;
  const Pod pod{"prod", "loader-0", "77777777-0000-4000-8000-000000000007"};
  {
    Sidecar s(server, pod, "loader");
    auto welcome = s.connect(/*spooled=*/0);
    REQUIRE(welcome);
    CHECK(welcome->acked_sequence() == 0);
    REQUIRE(s.send(1, 7) == 7u);
  }
  {
    // Same pod, its spool kept (e.g. the container restarted): 1..7 are stored, the sidecar
    // may drop them without waiting for a replay's acknowledgement.
    Sidecar s(server, pod, "loader");
    auto welcome = s.connect(/*spooled=*/9);
    REQUIRE(welcome);
    CHECK(welcome->acked_sequence() == 7);
  }
  {
    // Same pod, numbering restarted (its spool directory was lost): 7 says nothing about the
    // events it holds now, so nothing is claimed.
    Sidecar s(server, pod, "loader");
    auto welcome = s.connect(/*spooled=*/3);
    REQUIRE(welcome);
    CHECK(welcome->acked_sequence() == 0);
  }
}

v1::Identity unboundWorkload(const std::string& issuer, const std::string& subject) {
  v1::Identity id;
  id.set_kind(v1::Identity::KIND_WORKLOAD);
  id.set_issuer(issuer);
  id.set_subject(subject);
  return id;
}

TEST_CASE("the instance names the token's pod, or the token's principal and the label",
          "[stream][audit]") {
  v1::Identity pod;
  pod.set_kind(v1::Identity::KIND_WORKLOAD);
  pod.set_issuer(kIssuer);
  pod.set_subject("system:serviceaccount:prod:migrate");
  pod.set_namespace_("prod");
  pod.set_pod_name("migrate-0");
  pod.set_pod_uid("8c1e");
  CHECK(sidecarInstance(pod, "") == "sidecar/prod/migrate-0/8c1e");
  // The Hello's label does not matter for a pod-bound token.
  CHECK(sidecarInstance(pod, "sidecar/other/pod/uid") == "sidecar/prod/migrate-0/8c1e");

  // Without a pod: issuer and subject, then the label (less "sidecar/"), each escaped.
  auto ci = unboundWorkload("https://token.ci.example", "repo:org/app:ref:main");
  CHECK(sidecarInstance(ci, "sidecar/runner-7") ==
        "sidecar/principal/https:%2F%2Ftoken.ci.example/repo:org%2Fapp:ref:main/runner-7");
  CHECK(sidecarInstance(ci, "") ==
        "sidecar/principal/https:%2F%2Ftoken.ci.example/repo:org%2Fapp:ref:main/");
  CHECK(sidecarInstance(ci, "a b%/\n\xc3\xa9") ==
        "sidecar/principal/https:%2F%2Ftoken.ci.example/repo:org%2Fapp:ref:main/"
        "a%20b%25%2F%0A%C3%A9");
  // A subject cannot reach into another subject's instances through its label, nor into a
  // pod's: the parts cannot hold a '/'.
  auto a = unboundWorkload("https://idp", "a");
  auto ab = unboundWorkload("https://idp", "a/b");
  CHECK(sidecarInstance(a, "b/c") != sidecarInstance(ab, "c"));
  auto ns = unboundWorkload("prod", "migrate-0");
  CHECK(sidecarInstance(ns, "8c1e") != sidecarInstance(pod, ""));
}

TEST_CASE("only the sidecar running a session can report it ended", "[stream]") {
  StreamServer server;
  Sidecar owner(server, {"payments", "job-1", "uid-job-1"}, "owner");
  Sidecar other(server, {"payments", "job-2", "uid-job-2"}, "other");
  REQUIRE(owner.connect());
  REQUIRE(other.connect());
  REQUIRE(owner.report("s-1", false, 3, 1));
  // Another pod that learnt the session's id (it is in audit records and the session list)
  // reports it ended with other counters. Before, that ended it in the registry.
  REQUIRE(other.report("s-1", true, 999, 1));
  auto s = server.session("s-1");
  REQUIRE(s.ok());
  CHECK_FALSE(s->has_ended_at());
  CHECK(s->statements() == 3);
  CHECK(s->sidecar_id().find("job-1") != std::string::npos);
  REQUIRE(owner.report("s-1", true, 4, 2));
  s = server.session("s-1");
  REQUIRE(s.ok());
  CHECK(s->has_ended_at());
  CHECK(s->statements() == 4);
}

// Review (session 22): a Hello naming another namespace than its token's was welcomed.
TEST_CASE("a Hello whose namespace contradicts its token is refused", "[stream]") {
  StreamServer server;
  Sidecar sidecar(server, {"payments", "job-1", "uid-job-1"}, "ns");
  REQUIRE(sidecar.connect());
  sidecar.close();
  grpc::ClientContext context;
  auto stub = v1::SidecarService::NewStub(server.channel());
  auto stream = stub->Connect(&context);
  v1::SidecarMessage m;
  v1::Hello* h = m.mutable_hello();
  h->set_token(server.token({"payments", "job-1", "uid-job-1"}));
  h->set_pod_name("job-1");
  h->set_pod_namespace("kube-system");
  h->set_pod_uid("uid-job-1");
  REQUIRE(stream->Write(m));
  v1::ControlMessage in;
  bool welcomed = false;
  while (stream->Read(&in)) welcomed = welcomed || in.has_welcome();
  const grpc::Status st = stream->Finish();
  CHECK_FALSE(welcomed);
  CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(st.error_message().find("namespace kube-system") != std::string::npos);
}

// Review (session 22): a stream that never sent Hello stayed open until it sent something (the
// heartbeat limit only watched welcomed streams).
TEST_CASE("a stream that sends no Hello is closed at the heartbeat limit", "[stream]") {
  StreamOptions options;
  options.heartbeat_seconds = 1;
  StreamServer server(options);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stub = v1::SidecarService::NewStub(server.channel());
  auto stream = stub->Connect(&context);
  v1::ControlMessage in;
  while (stream->Read(&in)) {
  }
  const grpc::Status st = stream->Finish();
  CHECK(st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(st.error_message() == "no hello");  // the server's, not the client's own deadline
}

}  // namespace
}  // namespace tollgate::controlplane::stream
