// Set-up for the pod-level test: a network namespace that plays the pod (veth to the host,
// cleaned up with everything in it), a control plane with the admission webhook, and a real
// Job pod AdmissionReview sent over HTTPS.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/integration/controlplane_harness.h"
#include "tests/integration/pod_kubelet.h"

namespace tollgate::testing {

inline bool haveCommand(const std::string& name) {
  return run({"sh", "-c", "command -v " + name}).exit_code == 0;
}

// `ip netns add` + a veth pair: host side HOST_IP/30, pod side eth0 POD_IP/30, lo up. The
// destructor kills every process left in the namespace and deletes it (the veth goes with it).
class PodNetns {
 public:
  PodNetns() {
    static std::atomic<int> counter{0};
    int n = counter++;
    int pid = static_cast<int>(::getpid());
    name_ = "tg-pod-" + std::to_string(pid) + "-" + std::to_string(n);
    host_if_ = "tgp" + std::to_string(pid % 100000) + "x" + std::to_string(n % 10);
    std::string net = "10.231." + std::to_string((pid + n) % 250) + ".";
    host_ip_ = net + "1";
    pod_ip_ = net + "2";
    ok_ = sh("ip netns add " + name_) && sh("ip -n " + name_ + " link set lo up") &&
          sh("ip link add " + host_if_ + " type veth peer name eth0 netns " + name_) &&
          sh("ip addr add " + host_ip_ + "/30 dev " + host_if_) &&
          sh("ip link set " + host_if_ + " up") &&
          sh("ip -n " + name_ + " addr add " + pod_ip_ + "/30 dev eth0") &&
          sh("ip -n " + name_ + " link set eth0 up");
  }
  ~PodNetns() {
    for (int sig : {SIGTERM, SIGKILL}) {
      run({"sh", "-c", "ip netns pids " + name_ + " | xargs -r kill -" + std::to_string(sig)});
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    run({"ip", "netns", "del", name_});
    run({"ip", "link", "del", host_if_});
  }
  PodNetns(const PodNetns&) = delete;
  PodNetns& operator=(const PodNetns&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& hostIp() const { return host_ip_; }
  // `argv` run inside the namespace (as root).
  std::vector<std::string> exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
    return argv;
  }

 private:
  static bool sh(const std::string& cmd) {
    RunResult r = run({"sh", "-c", cmd});
    if (r.exit_code != 0) std::fprintf(stderr, "%s: %s\n", cmd.c_str(), r.err.c_str());
    return r.exit_code == 0;
  }
  std::string name_, host_if_, host_ip_, pod_ip_;
  bool ok_ = false;
};

// Issues a serving certificate for `sans` (openssl x509 -extfile syntax, e.g.
// "IP:127.0.0.1,DNS:x") signed by the test CA; returns {cert, key} paths in `dir`.
inline std::pair<std::string, std::string> issueServerCert(const TestPki& pki,
                                                           const std::filesystem::path& dir,
                                                           const std::string& sans) {
  std::string key = (dir / "cp-key.pem").string();
  std::string csr = (dir / "cp.csr").string();
  std::string cert = (dir / "cp.pem").string();
  std::string ext = (dir / "cp.ext").string();
  std::ofstream(ext) << "subjectAltName=" << sans
                     << "\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n";
  RunResult a =
      run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=tollgate.tollgate.svc"});
  RunResult b = run({"openssl", "x509", "-req", "-in", csr, "-CA", pki.ca_cert, "-CAkey",
                     pki.ca_key, "-set_serial", std::to_string(::getpid()) + "1", "-days", "2",
                     "-sha256", "-extfile", ext, "-out", cert});
  if (a.exit_code != 0 || b.exit_code != 0) {
    throw std::runtime_error("openssl failed: " + a.err + b.err);
  }
  return {cert, key};
}

// A tollgate-controlplane with gRPC on 0.0.0.0 (the pod reaches it over the veth at
// netns.hostIp()), the admission webhook on 127.0.0.1, JWKS files for the test's issuers, a
// credentials directory and `policy` applied at start.
class PodControlPlane {
 public:
  PodControlPlane(const PodNetns& netns, const TestIssuers& issuers, const std::string& policy,
                  const std::string& webhook_extra)
      : pki_(writeTestPki(dir_.path() / "pki")), port_(freePort()), webhook_port_(freePort()) {
    auto [cert, key] =
        issueServerCert(pki_, dir_.path(), "IP:127.0.0.1,IP:" + netns.hostIp() + ",DNS:localhost");
    dir_.write("k8s-jwks.json", jwksText({publicJwk(issuers.workload_key.get(), "k8s-1")}));
    dir_.write("idp-jwks.json", jwksText({publicJwk(issuers.human_key.get(), "idp-1")}));
    std::filesystem::create_directories(dir_.path() / "creds");
    dir_.write("creds/payments-app", "app:apppw\n");
    std::string d = dir_.path().string();
    std::ostringstream c;
    c << "grpc: {address: 0.0.0.0, port: " << port_ << ", tls: {cert: " << cert << ", key: " << key
      << "}}\n"
      << "admin: {address: 127.0.0.1, port: 0}\n"
      << "dataDir: " << d << "/data\n"
      << "policy: " << dir_.write("policy.yaml", policy) << "\n"
      << "credentialsDir: " << d << "/creds\n"
      << "identity:\n"
      << "  groupRoles: {auditors: [auditor]}\n"
      << "  issuers:\n"
      << "    - {issuer: \"" << kK8sIssuer << "\", kind: workload, audience: tollgate, "
      << "jwksFile: " << d << "/k8s-jwks.json}\n"
      << "    - {issuer: \"" << kIdpIssuer << "\", kind: human, audience: tollgate-cli, "
      << "jwksFile: " << d << "/idp-jwks.json}\n"
      << "webhook:\n"
      << "  enabled: true\n"
      << "  address: 127.0.0.1\n"
      << "  port: " << webhook_port_ << "\n"
      << "  tls: {cert: " << cert << ", key: " << key << "}\n"
      << "  image: registry.example.com/tollgate/sidecar:0.1.0\n"
      << "  namespace: tollgate\n"
      << "  controlPlaneAddress: " << netns.hostIp() << ":" << port_ << "\n"
      << "  controlPlaneCaFile: " << pki_.ca_cert << "\n"
      << webhook_extra;
    std::string config = c.str();
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{binPath("tollgate-controlplane"), "--config",
                                 dir_.write("controlplane.yaml", config)},
        (dir_.path() / "controlplane.log").string());
    ready_ = waitPort(port_, std::chrono::seconds(20)) &&
             waitPort(webhook_port_, std::chrono::seconds(5));
    if (!ready_) std::fprintf(stderr, "control plane did not start:\n%s\n", log().c_str());
  }

  bool ready() const { return ready_; }
  std::string log() const { return proc_->log(); }
  const TestPki& pki() const { return pki_; }

  // POSTs `review` to https://127.0.0.1:WEBHOOK/mutate (verifying the test CA) with curl;
  // returns the parsed AdmissionReview answer (discarded JSON when curl or parsing failed).
  nlohmann::json mutate(const nlohmann::json& review) const {
    std::string body = dir_.write("review.json", review.dump());
    RunResult r =
        run({"curl", "-sS", "--fail-with-body", "--max-time", "10", "--cacert", pki_.ca_cert, "-H",
             "Content-Type: application/json", "--data-binary", "@" + body,
             "https://127.0.0.1:" + std::to_string(webhook_port_) + "/mutate?timeout=10s"});
    if (r.exit_code != 0) std::fprintf(stderr, "curl: %s %s\n", r.out.c_str(), r.err.c_str());
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  std::vector<v1::AuditEvent> search(const std::string& token, v1::SearchAuditRequest req) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readWholeFile(pki_.ca_cert);
    auto stub = v1::AuditService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(ssl)));
    std::vector<v1::AuditEvent> out;
    req.set_limit(1000);
    while (true) {
      v1::SearchAuditResponse resp;
      auto ctx = authed(token);
      if (!stub->Search(ctx.get(), req, &resp).ok()) return {};
      for (const auto& e : resp.events()) out.push_back(e);
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
  }

 private:
  TempDir dir_;
  TestPki pki_;
  int port_;
  int webhook_port_;
  std::unique_ptr<Process> proc_;
  bool ready_ = false;
};

// What the API server knows about the Job pod it asks the webhook about.
struct JobPod {
  std::string ns = "payments-ci";
  std::string sa = "nightly";
  std::string job = "settlement-28901234";
  std::string job_uid = "7d0e1f2a-3b4c-4d5e-8f60-718293a4b5c6";
  std::string name = "settlement-28901234-x7k2p";
  std::string uid = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
  // The main container's psql arguments after the connection settings in its env.
  std::vector<std::string> job_args;
};

// An AdmissionReview v1 for the pod the Job controller creates: ownerReferences to the Job,
// job-name / controller-uid labels, the service-account token volume the API server adds, an
// init container and the main container (psql as uid 65534 with PG* env naming 127.0.0.5:5432
// and no password), the pod-level securityContext non-root.
inline nlohmann::json jobPodReview(const JobPod& p, const std::string& review_uid) {
  using nlohmann::json;
  json pg_env = json::array({{{"name", "PGHOST"}, {"value", "127.0.0.5"}},
                             {{"name", "PGPORT"}, {"value", "5432"}},
                             {{"name", "PGDATABASE"}, {"value", "payments"}},
                             {{"name", "PGUSER"}, {"value", "settlement"}},
                             {{"name", "PGSSLMODE"}, {"value", "disable"}},
                             {{"name", "PGCONNECT_TIMEOUT"}, {"value", "20"}}});
  json api_mount = {{"name", "kube-api-access-5kq2n"},
                    {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
                    {"readOnly", true}};
  json labels = {{"batch.kubernetes.io/controller-uid", p.job_uid},
                 {"batch.kubernetes.io/job-name", p.job},
                 {"controller-uid", p.job_uid},
                 {"job-name", p.job}};
  json main_args = json::array({"-X", "-At", "-v", "VERBOSITY=verbose"});
  for (const auto& a : p.job_args) main_args.push_back(a);
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", p.name},
        {"generateName", p.job + "-"},
        {"namespace", p.ns},
        {"uid", p.uid},
        {"labels", labels},
        {"annotations", {{"batch.kubernetes.io/job-tracking", ""}}},
        {"finalizers", json::array({"batch.kubernetes.io/job-tracking"})},
        {"ownerReferences", json::array({{{"apiVersion", "batch/v1"},
                                          {"kind", "Job"},
                                          {"name", p.job},
                                          {"uid", p.job_uid},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}})}}},
      {"spec",
       {{"restartPolicy", "Never"},
        {"serviceAccountName", p.sa},
        {"serviceAccount", p.sa},
        {"terminationGracePeriodSeconds", 30},
        {"dnsPolicy", "ClusterFirst"},
        {"schedulerName", "default-scheduler"},
        {"securityContext", {{"runAsUser", 65534}, {"runAsGroup", 65534}, {"runAsNonRoot", true}}},
        {"initContainers",
         json::array({{{"name", "check-schema"},
                       {"image", "registry.example.com/payments/settlement:1.4.2"},
                       {"command", json::array({"psql", "-X", "-At", "-c",
                                                "SELECT 'schema ' || count(*) FROM cards"})},
                       {"env", pg_env},
                       {"volumeMounts", json::array({api_mount})}}})},
        {"containers",
         json::array({{{"name", "settlement"},
                       {"image", "registry.example.com/payments/settlement:1.4.2"},
                       {"imagePullPolicy", "IfNotPresent"},
                       {"command", json::array({"psql"})},
                       {"args", main_args},
                       {"env", pg_env},
                       {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
                       {"terminationMessagePath", "/dev/termination-log"},
                       {"terminationMessagePolicy", "File"},
                       {"volumeMounts", json::array({api_mount})}}})},
        {"volumes", json::array({{{"name", "kube-api-access-5kq2n"},
                                  {"projected",
                                   {{"defaultMode", 420},
                                    {"sources", json::array({{{"serviceAccountToken",
                                                               {{"expirationSeconds", 3607},
                                                                {"path", "token"}}}}})}}}}})}}}};
  json resource = {{"group", ""}, {"version", "v1"}, {"resource", "pods"}};
  json kind = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
  return {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", review_uid},
        {"kind", kind},
        {"resource", resource},
        {"requestKind", kind},
        {"requestResource", resource},
        {"name", p.name},
        {"namespace", p.ns},
        {"operation", "CREATE"},
        {"userInfo",
         {{"username", "system:serviceaccount:kube-system:job-controller"},
          {"groups", json::array({"system:serviceaccounts", "system:serviceaccounts:kube-system",
                                  "system:authenticated"})}}},
        {"object", pod},
        {"oldObject", nullptr},
        {"dryRun", false},
        {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
}

}  // namespace tollgate::testing
