// Shared set-up for tests that run the control plane, connected sidecars and PostgreSQL as real
// processes: signing keys and tokens minted by the test, a TLS control plane that can be
// killed and restarted on the same data, a sidecar in connected mode, and gRPC clients.
#pragma once

#include <grpcpp/grpcpp.h>
#include <catch2/catch_test_macros.hpp>

#include <csignal>
#include <ctime>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "tests/controlplane/jwt_test_signer.h"
#include "tests/integration/sidecar_pg_harness.h"
#include "tests/support/pki.h"
#include "tollgate/v1/approval.grpc.pb.h"
#include "tollgate/v1/audit.grpc.pb.h"
#include "tollgate/v1/grant.grpc.pb.h"
#include "tollgate/v1/policy.grpc.pb.h"
#include "tollgate/v1/session.grpc.pb.h"

namespace tollgate::testing {

inline constexpr char kK8sIssuer[] = "https://kubernetes.default.svc.cluster.local";
inline constexpr char kIdpIssuer[] = "https://idp.tollgate.test";

// Keys the test signs with; the control plane trusts them through JWKS files.
struct TestIssuers {
  EvpPkeyPtr workload_key = newRsaKey();
  EvpPkeyPtr human_key = newEcKey();

  // A projected ServiceAccount token bound to one pod.
  std::string workloadToken(const std::string& ns, const std::string& sa, const std::string& pod,
                            const std::string& uid, int ttl_seconds = 600,
                            const std::string& audience = "tollgate") const {
    long now = static_cast<long>(std::time(nullptr));
    Json claims = {{"iss", kK8sIssuer},
                   {"sub", "system:serviceaccount:" + ns + ":" + sa},
                   {"aud", Json::array({audience})},
                   {"iat", now},
                   {"nbf", now - 5},
                   {"exp", now + ttl_seconds},
                   {"kubernetes.io",
                    {{"namespace", ns},
                     {"serviceaccount", {{"name", sa}, {"uid", "sa-uid"}}},
                     {"pod", {{"name", pod}, {"uid", uid}}}}}};
    return mintJwt(workload_key.get(), "RS256", "k8s-1", claims);
  }

  // An OIDC ID token for a person in `groups`.
  std::string humanToken(const std::string& sub, const std::vector<std::string>& groups,
                         int ttl_seconds = 600) const {
    long now = static_cast<long>(std::time(nullptr));
    Json claims = {{"iss", kIdpIssuer},
                   {"sub", sub},
                   {"aud", "tollgate-cli"},
                   {"email", sub + "@example.test"},
                   {"iat", now},
                   {"exp", now + ttl_seconds},
                   {"groups", groups}};
    return mintJwt(human_key.get(), "ES256", "idp-1", claims);
  }
};

// The policy of these tests: standardPolicy with credentials brokered by the control plane and
// two extra access rules: a short-lived one (expiry tests) and one for a review-heavy job.
inline std::string connectedPolicy(const PgServer& pg) {
  std::string y = standardPolicy(pg, "UNUSED", {});
  auto at = y.find("credentials: {file: UNUSED}");
  y.replace(at, std::string("credentials: {file: UNUSED}").size(),
            "credentials: {secret: payments-app}");
  auto access_end = y.find("guardrails:");
  y.insert(access_end,
           "  - {name: short-read, subjects: [{serviceAccount: \"payments-short/*\"}], "
           "resources: [payments-db], role: read, maxDuration: 3s}\n");
  y.replace(y.find("action: review}"), std::string("action: review}").size(),
            "action: review, approvers: {timeout: 10s}}");
  return y;
}

// A tollgate-controlplane process with TLS, JWKS files for both issuers, a bootstrap token, a
// credentials directory and the connected policy. restart() keeps the data directory and port.
class ControlPlaneProc {
 public:
  ControlPlaneProc(const PgServer& pg, const TestIssuers& issuers)
      : pki_(writeTestPki(dir_.path() / "pki")), port_(freePort()) {
    dir_.write("k8s-jwks.json", jwksText({publicJwk(issuers.workload_key.get(), "k8s-1")}));
    dir_.write("idp-jwks.json", jwksText({publicJwk(issuers.human_key.get(), "idp-1")}));
    bootstrap_ = "bootstrap-secret-0123456789-abcdefghijklmnop";
    dir_.write("bootstrap-token", bootstrap_ + "\n");
    std::filesystem::create_directories(dir_.path() / "creds");
    dir_.write("creds/payments-app", "app:apppw\n");
    policy_ = dir_.write("policy.yaml", connectedPolicy(pg));
    std::string d = dir_.path().string();
    dir_.write("controlplane.yaml",
               "grpc:\n"
               "  address: 127.0.0.1\n"
               "  port: " +
                   std::to_string(port_) +
                   "\n"
                   "  tls: {cert: " +
                   pki_.server_cert + ", key: " + pki_.server_key +
                   "}\n"
                   "admin: {address: 127.0.0.1, port: 0}\n"
                   "dataDir: " +
                   d +
                   "/data\n"
                   "policy: " +
                   policy_ +
                   "\n"
                   "credentialsDir: " +
                   d +
                   "/creds\n"
                   "identity:\n"
                   "  bootstrapTokenFile: " +
                   d +
                   "/bootstrap-token\n"
                   "  groupRoles: {sec-admins: [admin], approvers: [approver], auditors: [auditor],"
                   " editors: [policy-editor]}\n"
                   "  issuers:\n"
                   "    - {issuer: \"" +
                   std::string(kK8sIssuer) +
                   "\", kind: workload, audience: "
                   "tollgate, jwksFile: " +
                   d +
                   "/k8s-jwks.json}\n"
                   "    - {issuer: \"" +
                   std::string(kIdpIssuer) +
                   "\", kind: human, audience: "
                   "tollgate-cli, jwksFile: " +
                   d + "/idp-jwks.json}\n");
    start();
  }

  void start() {
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{binPath("tollgate-controlplane"), "--config",
                                 (dir_.path() / "controlplane.yaml").string()},
        (dir_.path() / ("controlplane-" + std::to_string(++starts_) + ".log")).string());
    ready_ = waitPort(port_, std::chrono::seconds(20));
    if (!ready_) std::fprintf(stderr, "control plane did not start:\n%s\n", log().c_str());
  }
  // SIGKILL, no goodbye.
  void kill() { proc_->stop(SIGKILL, std::chrono::seconds(5)); }
  void restart() {
    kill();
    start();
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const TestPki& pki() const { return pki_; }
  const TempDir& dir() const { return dir_; }
  const std::string& bootstrapToken() const { return bootstrap_; }
  std::string log() const { return proc_ ? proc_->log() : ""; }
  std::string dbPath() const { return (dir_.path() / "data").string(); }

  std::shared_ptr<grpc::Channel> channel() const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readWholeFile(pki_.ca_cert);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(address(), grpc::SslCredentials(ssl), args);
  }

 private:
  TempDir dir_;
  TestPki pki_;
  int port_;
  std::string bootstrap_;
  std::string policy_;
  std::unique_ptr<Process> proc_;
  bool ready_ = false;
  int starts_ = 0;
};

// A context carrying `token` as bearer, with a deadline.
inline std::unique_ptr<grpc::ClientContext> authed(const std::string& token, int seconds = 10) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

struct PodSpec {
  std::string ns = "payments-ci";
  std::string sa = "nightly";
  std::string pod = "nightly-abc12";
  std::string uid = "4b2c9d6e-0000-4000-8000-000000000001";
};

// A tollgate-sidecar in connected mode: identity from a minted pod token, policy and
// credentials from the control plane, events to its spool and the stream.
class ConnectedSidecar {
 public:
  ConnectedSidecar(const ControlPlaneProc& cp, const TestIssuers& issuers, PodSpec pod = {},
                   const std::vector<std::string>& extra_args = {})
      : pod_(std::move(pod)), port_(freePort()) {
    token_ = dir_.write("token", issuers.workloadToken(pod_.ns, pod_.sa, pod_.pod, pod_.uid));
    std::vector<std::string> argv = {binPath("tollgate-sidecar"),
                                     "--control-plane",
                                     cp.address(),
                                     "--control-plane-ca",
                                     cp.pki().ca_cert,
                                     "--token-file",
                                     token_,
                                     "--spool-dir",
                                     (dir_.path() / "spool").string(),
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port_) + "=payments-db",
                                     "--admin-port",
                                     "0",
                                     "--drain-seconds",
                                     "1",
                                     "--audit-drain-seconds",
                                     "3"};
    if (std::find(extra_args.begin(), extra_args.end(), "--audit-drain-seconds") !=
        extra_args.end()) {
      argv.resize(argv.size() - 2);  // the caller's value instead of the default above
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    argv_ = argv;
    start();
  }

  // Starts the process (again: same spool directory, same token, same port).
  void start() {
    proc_ = std::make_unique<Process>(
        argv_, (dir_.path() / ("sidecar-" + std::to_string(++starts_) + ".log")).string(),
        std::map<std::string, std::string>{
            {"POD_NAME", pod_.pod}, {"POD_NAMESPACE", pod_.ns}, {"POD_UID", pod_.uid}});
    ready_ = waitPort(port_, std::chrono::seconds(20));
    if (!ready_) std::fprintf(stderr, "connected sidecar did not start:\n%s\n", log().c_str());
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  bool running() { return proc_->running(); }
  std::optional<int> stop(int sig = SIGTERM,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return proc_->stop(sig, timeout);
  }
  std::string log() const { return proc_->log(); }
  const PodSpec& pod() const { return pod_; }

  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " dbname=payments user=job password=not-a-secret connect_timeout=20 sslmode=disable";
  }
  RunResult psql(const std::string& sql,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    return run({"psql", "-X", "-At", "-v", "VERBOSITY=verbose", "-d", conninfo(), "-f", "-"}, sql,
               timeout);
  }

 private:
  TempDir dir_;
  PodSpec pod_;
  int port_;
  std::string token_;
  std::vector<std::string> argv_;
  int starts_ = 0;
  std::unique_ptr<Process> proc_;
  bool ready_ = false;
};

// Every audit event matching `req`, all pages.
inline std::vector<v1::AuditEvent> searchAll(const ControlPlaneProc& cp, const std::string& token,
                                             v1::SearchAuditRequest req) {
  auto stub = v1::AuditService::NewStub(cp.channel());
  std::vector<v1::AuditEvent> out;
  req.set_limit(1000);
  while (true) {
    v1::SearchAuditResponse resp;
    auto ctx = authed(token);
    auto st = stub->Search(ctx.get(), req, &resp);
    if (!st.ok()) {
      FAIL("audit search failed: " << st.error_message());
    }
    for (const auto& e : resp.events()) out.push_back(e);
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return out;
}

// A control plane on the shared PostgreSQL with its issuers and three human tokens.
struct World {
  TestIssuers issuers;
  ControlPlaneProc cp{sharedPg(), issuers};
  std::string admin = issuers.humanToken("carol", {"sec-admins"});
  std::string approver = issuers.humanToken("alice", {"approvers"});
  std::string auditor = issuers.humanToken("dave", {"auditors"});
};

// Applies `yaml` as the next policy version through PolicyService, as an editor would; returns
// the version.
inline int64_t applyPolicy(const World& w, const std::string& yaml, const std::string& comment) {
  auto stub = v1::PolicyService::NewStub(w.cp.channel());
  v1::ApplyPolicyRequest apply;
  apply.set_yaml(yaml);
  apply.set_comment(comment);
  v1::ApplyPolicyResponse applied;
  auto ctx = authed(w.admin);
  auto st = stub->Apply(ctx.get(), apply, &applied);
  INFO(st.error_message());
  REQUIRE(st.ok());
  REQUIRE(applied.errors_size() == 0);
  return applied.applied().version();
}

// connectedPolicy() with `guardrail` (one YAML flow mapping) first among the guardrails.
inline std::string withGuardrail(std::string yaml, const std::string& guardrail) {
  yaml.insert(yaml.find("guardrails:\n") + std::string("guardrails:\n").size(),
              "  - " + guardrail + "\n");
  return yaml;
}

// A Python job through `sc` that stops in the middle: its script calls `pause()` (defined
// for it) where the test is to change something; applyWhilePaused() applies a policy version
// there and lets the job go on once the sidecar has it. finish() returns the job's output.
class PausingJob {
 public:
  PausingJob(const ConnectedSidecar& sc, const std::string& script)
      : ready_((tmp_.path() / "ready").string()), go_((tmp_.path() / "go").string()) {
    auto path = tmp_.write("job.py",
                           "import os, sys, time\n"
                           "def pause():\n"
                           "    open(sys.argv[3], 'w').close()\n"
                           "    while not os.path.exists(sys.argv[2]): time.sleep(0.05)\n" +
                               script);
    job_ = std::async(std::launch::async, [this, path, conninfo = sc.conninfo()] {
      return run({kSystemPython, path, conninfo, go_, ready_}, "", std::chrono::seconds(60));
    });
  }
  void applyWhilePaused(const World& w, const ConnectedSidecar& sc, const std::string& yaml,
                        const std::string& comment) {
    REQUIRE(eventually([&] { return std::filesystem::exists(ready_); }, std::chrono::seconds(30)));
    const int64_t version = applyPolicy(w, yaml, comment);
    REQUIRE(eventually(
        [&] { return sc.log().find("version=" + std::to_string(version)) != std::string::npos; }));
    tmp_.write("go", "");
  }
  RunResult finish() {
    if (!result_) result_ = job_.get();
    return *result_;
  }
  // For a failure message: "still running", or how the job ended and what it printed.
  std::string progress() {
    if (!result_ && job_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      return "still running";
    }
    const RunResult r = finish();
    return "exited " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
  }

 private:
  TempDir tmp_;
  std::string ready_;
  std::string go_;
  std::future<RunResult> job_;
  std::optional<RunResult> result_;
};

}  // namespace tollgate::testing
