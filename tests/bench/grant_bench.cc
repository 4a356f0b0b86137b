// Grant latency end to end over gRPC + TLS against a real tollgate-controlplane (SQLite store):
// GrantService.Request by a person, and GrantRequest -> GrantReply on the SidecarService stream.
//
// Each case runs a fixed number of sequential requests (TOLLGATE_GRANT_BENCH_N, default 500)
// after 50 warm-up requests; only the request/reply round trip is timed (stream set-up, token
// minting and clean-up are not). Counters p50_us / p99_us / mean_us / max_us hold the
// distribution; tests/bench/grant_bench.py prints them as a table.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "tests/controlplane/jwt_test_signer.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"
#include "tollgate/v1/grant.grpc.pb.h"
// gRPC's generated callback bases hide the synchronous overload of each method by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/stream.grpc.pb.h"
#pragma GCC diagnostic pop

namespace {

namespace t = tollgate::testing;
namespace v1 = tollgate::v1;
using Clock = std::chrono::steady_clock;

constexpr char kK8sIssuer[] = "https://kubernetes.default.svc.cluster.local";
constexpr char kIdpIssuer[] = "https://idp.tollgate.bench";
constexpr char kResource[] = "bench-db";
constexpr int kWarmup = 50;

int samplesPerCase() {
  const char* n = std::getenv("TOLLGATE_GRANT_BENCH_N");
  int v = n != nullptr ? std::atoi(n) : 0;
  return v > 0 ? v : 500;
}
const int kSamples = samplesPerCase();

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr char kPolicy[] = R"(version: 1
resources:
  - name: bench-db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432, tls: disable}
    credentials: {secret: bench-db}
access:
  - name: bench-read
    subjects: [{serviceAccount: "bench/*"}]
    resources: [bench-db]
    role: read
    maxDuration: 1h
    approval: none
)";

// The control-plane process and the keys its issuers trust; started once, on first use.
class Env {
 public:
  static Env& get() {
    static Env env;
    return env;
  }

  ~Env() {
    if (proc_) proc_->stop(SIGTERM);
  }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // A projected ServiceAccount token for pod `pod` of service account bench/runner.
  std::string workloadToken(const std::string& pod) const {
    long now = static_cast<long>(std::time(nullptr));
    t::Json claims = {{"iss", kK8sIssuer},
                      {"sub", "system:serviceaccount:bench:runner"},
                      {"aud", t::Json::array({"tollgate"})},
                      {"iat", now},
                      {"nbf", now - 5},
                      {"exp", now + 3600},
                      {"kubernetes.io",
                       {{"namespace", "bench"},
                        {"serviceaccount", {{"name", "runner"}, {"uid", "sa-uid"}}},
                        {"pod", {{"name", pod}, {"uid", "uid-" + pod}}}}}};
    return t::mintJwt(workload_key_.get(), "RS256", "k8s-1", claims);
  }
  // An OIDC token for a person in group `ops` (role approver).
  const std::string& humanToken() const { return human_token_; }

 private:
  Env() : pki_(t::writeTestPki(dir_.path() / "pki")), port_(t::freePort()) {
    const std::string d = dir_.path().string();
    dir_.write("k8s-jwks.json", t::jwksText({t::publicJwk(workload_key_.get(), "k8s-1")}));
    dir_.write("idp-jwks.json", t::jwksText({t::publicJwk(human_key_.get(), "idp-1")}));
    dir_.write("bootstrap-token", "bench-bootstrap-0123456789-abcdefghijklmnop\n");
    std::filesystem::create_directories(dir_.path() / "creds");
    dir_.write("creds/bench-db", "app:bench-pw\n");
    std::string policy = dir_.write("policy.yaml", kPolicy);
    std::string config = dir_.write(
        "controlplane.yaml",
        "grpc:\n  address: 127.0.0.1\n  port: " + std::to_string(port_) +
            "\n  tls: {cert: " + pki_.server_cert + ", key: " + pki_.server_key +
            "}\nadmin: {address: 127.0.0.1, port: 0}\ndataDir: " + d + "/data\npolicy: " + policy +
            "\ncredentialsDir: " + d + "/creds\nidentity:\n  bootstrapTokenFile: " + d +
            "/bootstrap-token\n  groupRoles: {ops: [approver]}\n  issuers:\n"
            "    - {issuer: \"" +
            kK8sIssuer +
            "\", kind: workload, audience: tollgate, "
            "jwksFile: " +
            d +
            "/k8s-jwks.json}\n"
            "    - {issuer: \"" +
            kIdpIssuer +
            "\", kind: human, audience: tollgate-cli, "
            "jwksFile: " +
            d + "/idp-jwks.json}\n");
    long now = static_cast<long>(std::time(nullptr));
    human_token_ = t::mintJwt(human_key_.get(), "ES256", "idp-1",
                              {{"iss", kIdpIssuer},
                               {"sub", "bench-operator"},
                               {"aud", "tollgate-cli"},
                               {"iat", now},
                               {"exp", now + 3600},
                               {"groups", {"ops"}}});
    const std::string bin = t::binPath("tollgate-controlplane");
    if (!std::filesystem::exists(bin)) {
      error_ = bin + " not found (build tollgate-controlplane)";
      return;
    }
    proc_ = std::make_unique<t::Process>(std::vector<std::string>{bin, "--config", config},
                                         (dir_.path() / "controlplane.log").string());
    if (!t::waitPort(port_, std::chrono::seconds(30))) {
      error_ = "control plane did not start: " + proc_->log();
      return;
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readFile(pki_.ca_cert);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                         grpc::SslCredentials(ssl), args);
    if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      error_ = "no TLS channel to the control plane";
      return;
    }
    ok_ = true;
  }

  t::TempDir dir_;
  t::TestPki pki_;
  int port_;
  t::EvpPkeyPtr workload_key_ = t::newRsaKey();
  t::EvpPkeyPtr human_key_ = t::newEcKey();
  std::string human_token_;
  std::unique_ptr<t::Process> proc_;
  std::shared_ptr<grpc::Channel> channel_;
  bool ok_ = false;
  std::string error_;
};

// Latency samples in microseconds -> counters (nearest-rank percentiles).
void report(benchmark::State& state, std::vector<double> us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  auto rank = [&](double p) {
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(us.size())));
    return us[std::clamp<size_t>(i, 1, us.size()) - 1];
  };
  state.counters["p50_us"] = rank(0.50);
  state.counters["p99_us"] = rank(0.99);
  state.counters["mean_us"] = std::accumulate(us.begin(), us.end(), 0.0) / us.size();
  state.counters["max_us"] = us.back();
  state.counters["samples"] = static_cast<double>(us.size());
}

bool envReady(benchmark::State& state) {
  if (Env::get().ok()) return true;
  state.SkipWithError(Env::get().error().c_str());
  for (auto _ : state) {
  }
  return false;
}

// One GrantService.Request naming workload `subject`; true when GRANTED.
bool humanRequest(v1::GrantService::Stub& stub, const std::string& subject, std::string* why) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + Env::get().humanToken());
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::RequestGrantRequest req;
  req.set_subject(subject);
  req.set_resource(kResource);
  req.set_reason("grant latency benchmark");
  v1::GrantDecision decision;
  grpc::Status st = stub.Request(&ctx, req, &decision);
  if (!st.ok()) {
    *why = "GrantService.Request: " + st.error_message();
    return false;
  }
  if (decision.outcome() != v1::GrantDecision::GRANTED) {
    *why = "not granted: " + decision.message();
    return false;
  }
  return true;
}

// A person asks ahead of time for a workload: every request issues a new grant (requests by
// people are never answered with an existing grant), stored and audited before the reply.
void BM_HumanRequestNewGrant(benchmark::State& state) {
  if (!envReady(state)) return;
  auto stub = v1::GrantService::NewStub(Env::get().channel());
  std::string why;
  int n = 0;
  for (int i = 0; i < kWarmup; ++i) {
    if (!humanRequest(*stub, "system:serviceaccount:bench:warm-" + std::to_string(n++), &why)) {
      state.SkipWithError(why.c_str());
      break;
    }
  }
  std::vector<double> us;
  for (auto _ : state) {
    std::string subject = "system:serviceaccount:bench:job-" + std::to_string(n++);
    auto t0 = Clock::now();
    bool ok = humanRequest(*stub, subject, &why);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!ok) {
      state.SkipWithError(why.c_str());
      break;
    }
    state.SetIterationTime(s);
    us.push_back(s * 1e6);
  }
  report(state, std::move(us));
}

// One sidecar stream: Hello -> Welcome, then grant requests.
class SidecarStream {
 public:
  explicit SidecarStream(const std::string& pod) : pod_(pod) {
    stub_ = v1::SidecarService::NewStub(Env::get().channel());
    stream_ = stub_->Connect(&ctx_);
    v1::SidecarMessage hello;
    hello.mutable_hello()->set_token(Env::get().workloadToken(pod));
    hello.mutable_hello()->set_pod_name(pod);
    hello.mutable_hello()->set_pod_namespace("bench");
    hello.mutable_hello()->set_pod_uid("uid-" + pod);
    hello.mutable_hello()->set_instance_id("bench-" + pod);
    v1::ControlMessage in;
    if (!stream_->Write(hello) || !stream_->Read(&in) || !in.has_welcome()) {
      error_ = "no Welcome for pod " + pod;
    }
  }
  ~SidecarStream() {
    stream_->WritesDone();
    v1::ControlMessage in;
    while (stream_->Read(&in)) {
    }
    stream_->Finish().ok();
  }
  const std::string& error() const { return error_; }

  // GrantRequest -> GrantReply; true when GRANTED with a credential.
  bool request(std::string* why) {
    v1::SidecarMessage out;
    v1::GrantRequest* g = out.mutable_grant_request();
    g->set_request_id(++next_id_);
    g->set_resource(kResource);
    g->set_role(v1::ROLE_READ);
    g->set_session_id("sess-" + pod_ + "-" + std::to_string(next_id_));
    if (!stream_->Write(out)) {
      *why = "stream write failed";
      return false;
    }
    v1::ControlMessage in;
    while (stream_->Read(&in)) {
      if (!in.has_grant_reply() || in.grant_reply().request_id() != next_id_) continue;
      const auto& d = in.grant_reply().decision();
      if (d.outcome() != v1::GrantDecision::GRANTED) {
        *why = "not granted: " + d.message();
        return false;
      }
      if (in.grant_reply().credential().password().empty()) {
        *why = "granted without the brokered credential";
        return false;
      }
      return true;
    }
    *why = "stream ended before the GrantReply";
    return false;
  }

 private:
  std::string pod_;
  grpc::ClientContext ctx_;
  std::unique_ptr<v1::SidecarService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SidecarMessage, v1::ControlMessage>> stream_;
  uint64_t next_id_ = 0;
  std::string error_;
};

// Each sample is a fresh pod (its own stream and token): the first GrantRequest of a pod issues
// a new grant bound to it. Stream set-up (Hello/Welcome) is not timed.
void BM_StreamNewGrant(benchmark::State& state) {
  if (!envReady(state)) return;
  std::string why;
  int n = 0;
  auto onePod = [&]() -> std::optional<double> {
    SidecarStream s("runner-" + std::to_string(n++));
    if (!s.error().empty()) {
      why = s.error();
      return std::nullopt;
    }
    auto t0 = Clock::now();
    if (!s.request(&why)) return std::nullopt;
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (int i = 0; i < kWarmup; ++i) {
    if (!onePod()) {
      state.SkipWithError(why.c_str());
      break;
    }
  }
  std::vector<double> us;
  for (auto _ : state) {
    auto s = onePod();
    if (!s) {
      state.SkipWithError(why.c_str());
      break;
    }
    state.SetIterationTime(*s);
    us.push_back(*s * 1e6);
  }
  report(state, std::move(us));
}

// One pod asks again and again for a grant it already holds: the control plane answers with the
// existing grant (and its credential) without storing anything.
void BM_StreamHeldGrant(benchmark::State& state) {
  if (!envReady(state)) return;
  SidecarStream s("runner-held");
  std::string why = s.error();
  for (int i = 0; why.empty() && i < kWarmup; ++i) s.request(&why);
  if (!why.empty()) state.SkipWithError(why.c_str());
  std::vector<double> us;
  for (auto _ : state) {
    if (!why.empty()) break;
    auto t0 = Clock::now();
    bool ok = s.request(&why);
    double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!ok) {
      state.SkipWithError(why.c_str());
      break;
    }
    state.SetIterationTime(sec);
    us.push_back(sec * 1e6);
  }
  report(state, std::move(us));
}

BENCHMARK(BM_HumanRequestNewGrant)
    ->Iterations(kSamples)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StreamNewGrant)->Iterations(kSamples)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StreamHeldGrant)->Iterations(kSamples)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
