// Pod-level end-to-end test: a network namespace plays a Job pod that the admission webhook
// injected; the redirect step, the sidecar (as its own uid) and the job's containers run from
// the patched pod spec against a real PostgreSQL on 127.0.0.5:5432 inside the namespace.
#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "tests/integration/pod_harness.h"

using namespace tollgate;
using namespace tollgate::testing;
using nlohmann::json;

namespace {

constexpr char kSidecar[] = "tollgate-sidecar";
constexpr char kRedirect[] = "tollgate-redirect";

std::string podPolicy(const std::string& upstream_ca) {
  return "version: 1\n"
         "defaults: {unknownDestination: deny}\n"
         "resources:\n"
         "  - name: payments-db\n"
         "    protocol: postgres\n"
         "    upstream: {host: 127.0.0.5, port: 5432, tls: verify-full, ca: " +
         upstream_ca +
         ", serverName: localhost}\n"
         "    credentials: {secret: payments-app}\n"
         "    database: payments\n"
         "    match: {hosts: [127.0.0.5], ports: [5432]}\n"
         "access:\n"
         "  - {name: settlement, subjects: [{serviceAccount: \"payments-ci/*\"}], "
         "resources: [payments-db], role: admin}\n"
         "guardrails:\n"
         "  - {name: no-ddl, match: {class: [ddl]}, action: block, "
         "message: \"DDL is not allowed from jobs\"}\n"
         "masking:\n"
         "  rules:\n"
         "    - {name: pan, detector: pan, action: {type: pci, keepFirst: 6, keepLast: 4}}\n";
}

// Packet counter of the first nat rule (iptables-save -c) containing `needle`; -1 if none.
long natPackets(const PodNetns& ns, const std::string& needle) {
  RunResult r = run(ns.exec({"iptables-save", "-c", "-t", "nat"}));
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) == std::string::npos || line.empty() || line[0] != '[') continue;
    return std::stol(line.substr(1, line.find(':') - 1));
  }
  return -1;
}

long procUid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Uid:", 0) == 0) return std::stol(line.substr(4));
  }
  return -1;
}

// The webhook in front of one pod namespace: admits the Job pod, then plays the kubelet.
struct PodWorld {
  // `extra_sql`: one more statement the main container runs after the standard ones.
  explicit PodWorld(const std::string& mode, const std::string& extra_sql = "") {
    if (!extra_sql.empty()) job.job_args.insert(job.job_args.end(), {"-c", extra_sql});
    job_statements = 3 + (extra_sql.empty() ? 0 : 1);
    std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
    if (!netns.ok()) return;
    pg = std::make_unique<PgServer>(
        PgServerOptions{"127.0.0.5", 5432, {"ip", "netns", "exec", netns.name()}});
    pg->createPaymentsFixture("apppw");
    // The sidecar reads the upstream CA the policy names; it runs as its own uid.
    std::string ca = dir.write("upstream-ca.pem", readWholeFile(pg->pki().ca_cert));
    std::filesystem::permissions(ca, std::filesystem::perms(0644));
    cp = std::make_unique<PodControlPlane>(netns, issuers, podPolicy(ca),
                                           "  mode: " + mode +
                                               "\n"
                                               "  includeCidrs: [127.0.0.5/32]\n"
                                               "  includePorts: [\"5432\"]\n");
    kubelet.netns = netns.name();
    kubelet.binaries["/usr/local/bin/tollgate-sidecar"] = binPath("tollgate-sidecar");
  }

  // Sends the review, applies the patch; fills `pod` and the pod's volumes (token minted for
  // the pod the review names, with the audience and lifetime the patch asks for).
  void admit() {
    json review = jobPodReview(job, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    json answer = cp->mutate(review);
    INFO(answer.dump() << cp->log());
    REQUIRE(answer.is_object());
    REQUIRE(answer["response"]["uid"] == review["request"]["uid"]);
    REQUIRE(answer["response"]["allowed"] == true);
    REQUIRE(answer["response"]["patchType"] == "JSONPatch");
    json patch = json::parse(base64Decode(answer["response"]["patch"].get<std::string>()));
    pod = review["request"]["object"].patch(patch);
    CHECK(pod["metadata"]["annotations"].contains("tollgate.io/status"));
    // The API server may call the webhook again (reinvocation): nothing more is injected.
    review["request"]["object"] = pod;
    json again = cp->mutate(review);
    CHECK(again["response"]["allowed"] == true);
    CHECK_FALSE(again["response"].contains("patch"));
    for (const auto& v : pod["spec"]["volumes"]) {
      std::string name = v["name"].get<std::string>();
      auto host = dir.path() / ("vol-" + name);
      std::filesystem::create_directories(host);
      std::filesystem::permissions(host, std::filesystem::perms(0777));  // emptyDir
      kubelet.volumes[name] = host.string();
      if (!v.contains("projected")) continue;
      for (const auto& src : v["projected"]["sources"]) {
        if (!src.contains("serviceAccountToken")) continue;
        const json& t = src["serviceAccountToken"];
        std::string token = issuers.workloadToken(
            pod["metadata"]["namespace"].get<std::string>(),
            pod["spec"]["serviceAccountName"].get<std::string>(),
            pod["metadata"]["name"].get<std::string>(), pod["metadata"]["uid"].get<std::string>(),
            t.value("expirationSeconds", 3600),
            t.value("audience", "https://kubernetes.default.svc.cluster.local"));
        std::ofstream(host / t["path"].get<std::string>()) << token;
      }
    }
  }

  ContainerLaunch launch(const std::string& name) const {
    return resolveContainer(pod, name, kubelet);
  }

  // Polls the container's startupProbe (httpGet) from inside the namespace until it passes.
  bool probeStarted(const std::string& name) const {
    const json& probe = containerNamed(pod, name)["startupProbe"]["httpGet"];
    std::string url = "http://127.0.0.1:" + std::to_string(probe["port"].get<int>()) +
                      probe["path"].get<std::string>();
    return eventually(
        [&] {
          return run(netns.exec({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url}))
                     .out == "200";
        },
        std::chrono::seconds(20));
  }

  // The statement / session records of this pod in the control plane's store.
  std::vector<v1::AuditEvent> podEvents(v1::EventType type) const {
    v1::SearchAuditRequest q;
    q.set_resource("payments-db");
    q.add_types(type);
    std::vector<v1::AuditEvent> out;
    for (auto& e : cp->search(auditor, q)) {
      if (e.identity().pod_uid() == job.uid) out.push_back(e);
    }
    return out;
  }

  // Checks the job's output: masked PANs, DROP blocked by the guardrail, the table intact.
  void checkJobOutput(const std::string& out, const std::string& err) const {
    INFO("job stdout:\n" << out << "\njob stderr:\n" << err);
    for (const auto& c : sampleCards()) {
      CHECK(out.find(std::to_string(c.id) + "|" + pciMasked(c.pan) + "\n") != std::string::npos);
    }
    CHECK(luhnRuns(out).empty());
    CHECK(err.find("ERROR:  42501: blocked by rule \"no-ddl\"") != std::string::npos);
    CHECK(out.find("cards left: 6") != std::string::npos);
    CHECK(pg->sqlOrThrow("SELECT count(*) FROM cards", kPgAppDatabase) == "6\n");
  }

  // Every record carries the identity of the pod the review named; the block is recorded.
  // `expected`: the job's three statements, plus the init container's in native mode (in
  // classic mode it runs before the sidecar exists and is refused), plus the extra SQL.
  void checkAudit(size_t expected) const {
    std::vector<v1::AuditEvent> statements;
    REQUIRE(eventually([&] {
      statements = podEvents(v1::EVENT_STATEMENT);
      return statements.size() >= expected;
    }));
    CHECK(statements.size() == expected);
    bool saw_block = false;
    for (const auto& e : statements) {
      CHECK(e.identity().pod_name() == job.name);
      CHECK(e.identity().namespace_() == job.ns);
      CHECK(e.identity().subject() == "system:serviceaccount:" + job.ns + ":" + job.sa);
      CHECK(e.identity().kind() == v1::Identity::KIND_WORKLOAD);
      if (e.reason().decision() == v1::DECISION_BLOCK) {
        saw_block = true;
        CHECK(e.reason().rule_ids(0) == "guardrail:no-ddl");
      }
    }
    CHECK(saw_block);
  }

  TestIssuers issuers;
  PodNetns netns;
  TempDir dir;  // the pod's volumes
  std::unique_ptr<PgServer> pg;
  std::unique_ptr<PodControlPlane> cp;
  JobPod job{.job_args = {"-c", "SELECT id, pan FROM cards ORDER BY id", "-c", "DROP TABLE cards",
                          "-c", "SELECT 'cards left: ' || count(*) FROM cards"}};
  size_t job_statements = 3;  // statements the main container runs
  std::string auditor = issuers.humanToken("dave", {"auditors"});
  json pod;
  KubeletContext kubelet;
};

bool canRunPods() {
  return ::geteuid() == 0 && haveCommand("ip") && haveCommand("iptables") &&
         haveCommand("setpriv") && haveCommand("unshare") && haveCommand("curl") &&
         haveCommand("openssl");
}

}  // namespace

TEST_CASE("native sidecar: an injected Job pod is gated end to end and drains on SIGTERM",
          "[pod][e2e]") {
  if (!canRunPods()) SKIP("needs root, ip, iptables, setpriv, unshare, curl and openssl");
  PodWorld w("native");
  REQUIRE(w.netns.ok());
  REQUIRE(w.cp->ready());
  w.admit();

  // The patch: redirect first, the native sidecar next, then the pod's own init container.
  std::vector<std::string> init_names;
  for (const auto& c : w.pod["spec"]["initContainers"])
    init_names.push_back(c["name"].get<std::string>());
  REQUIRE(init_names == std::vector<std::string>{kRedirect, kSidecar, "check-schema"});
  CHECK(containerNamed(w.pod, kSidecar)["restartPolicy"] == "Always");

  // Init container 1: the redirect step, as root with only the capabilities the patch adds.
  ContainerLaunch redirect = w.launch(kRedirect);
  CHECK(redirect.uid == 0);
  CHECK(redirect.capabilities == std::vector<std::string>{"net_admin", "net_raw"});
  RunResult r = run(redirect.argv);
  INFO("redirect: " << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("REDIRECT --to-ports 15001") != std::string::npos);
  CHECK(run(w.netns.exec({"iptables-save", "-t", "nat"}))
            .out.find("-A TOLLGATE_OUTPUT -d 127.0.0.5/32 -p tcp -m tcp --dport 5432 -j REDIRECT "
                      "--to-ports 15001") != std::string::npos);

  // Init container 2: the sidecar, as the patch's non-root uid, until its startup probe passes.
  ContainerLaunch side = w.launch(kSidecar);
  CHECK(side.uid == 15337);
  CHECK(side.env.count("TOLLGATE_CONTROL_PLANE_CA_PEM") == 1);
  CHECK(side.env["POD_UID"] == w.job.uid);
  Process sidecar(side.argv, (w.dir.path() / "sidecar.log").string());
  REQUIRE(w.probeStarted(kSidecar));
  INFO("sidecar log:\n" << sidecar.log());
  CHECK(procUid(sidecar.pid()) == 15337);
  long own_before = natPackets(w.netns, "--uid-owner 15337 -j RETURN");
  long redirected_before = natPackets(w.netns, "-d 127.0.0.5/32");

  // Init container 3 (the pod's own) already goes through the gate.
  RunResult init = run(w.launch("check-schema").argv);
  INFO("check-schema: " << init.out << init.err);
  CHECK(init.exit_code == 0);
  CHECK(init.out == "schema 6\n");

  // The main container: psql as uid 65534, no password anywhere in its env.
  ContainerLaunch main = w.launch("settlement");
  CHECK(main.uid == 65534);
  CHECK(main.env.count("PGPASSWORD") == 0);
  RunResult job = run(main.argv, "", std::chrono::seconds(60));
  w.checkJobOutput(job.out, job.err);

  // The job's two connections were redirected; the sidecar's own upstream connections to the
  // same address left through the owner-uid RETURN rule instead of looping into itself.
  CHECK(natPackets(w.netns, "-d 127.0.0.5/32") - redirected_before == 2);
  CHECK(natPackets(w.netns, "--uid-owner 15337 -j RETURN") - own_before >= 2);
  w.checkAudit(w.job_statements + 1);  // + the init container

  // The main container is done: the kubelet stops the native sidecar with SIGTERM.
  auto t0 = std::chrono::steady_clock::now();
  std::optional<int> code = sidecar.stop(SIGTERM, std::chrono::seconds(15));
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(code.value_or(-999) == 0);
  CHECK(took < std::chrono::seconds(9));  // drain (5 s default) + stream goodbye (3 s)
  std::vector<v1::AuditEvent> ends;
  CHECK(eventually([&] {
    ends = w.podEvents(v1::EVENT_SESSION_END);
    return ends.size() == 2;
  }));
  CHECK(w.podEvents(v1::EVENT_SESSION_START).size() == 2);
  CHECK(std::filesystem::exists(w.kubelet.volumes["tollgate-data"] + "/spool"));
}

namespace {

// Classic mode: the pod gets its own PID namespace (shareProcessNamespace) with a pause process
// (bash, pid 1) that starts the sidecar, waits for the go (sent once the startup probe passes,
// probed from outside), runs the job and then waits for the sidecar to leave by itself.
void runClassicPod(PodWorld& w) {
  REQUIRE(w.netns.ok());
  REQUIRE(w.cp->ready());
  w.admit();
  REQUIRE(w.pod["spec"]["containers"][0]["name"] == kSidecar);
  REQUIRE(w.pod["spec"]["containers"][1]["name"] == "settlement");
  CHECK(w.pod["spec"]["shareProcessNamespace"] == true);
  REQUIRE(w.pod["spec"]["initContainers"][0]["name"] == kRedirect);
  REQUIRE(run(w.launch(kRedirect).argv).exit_code == 0);
  // Classic mode has no sidecar during the init phase: the pod's own init container is
  // redirected to a port nobody listens on yet, so it fails closed instead of bypassing the gate.
  RunResult init = run(w.launch("check-schema").argv);
  CHECK(init.exit_code != 0);
  CHECK(init.err.find("Connection refused") != std::string::npos);

  auto strip = [](std::vector<std::string> argv) {  // drop "ip netns exec NS": already inside
    return std::vector<std::string>(argv.begin() + 4, argv.end());
  };
  auto words = [](const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += shellQuote(a) + " ";
    return s;
  };
  ContainerLaunch side = w.launch(kSidecar);
  REQUIRE(std::find(side.command.begin(), side.command.end(), "--exit-when-done") !=
          side.command.end());
  std::string d = w.dir.path().string();
  std::string fifo = d + "/go";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string script = w.dir.write(
      "pause.sh", "set -u\n" + words(strip(side.argv)) + "2> " + d + "/sidecar.log &\nsc=$!\n" +
                      "read -r _ < " + fifo + "\n" + words(strip(w.launch("settlement").argv)) +
                      "> " + d + "/job.out 2> " + d + "/job.err\n" + "date +%s%N > " + d +
                      "/job.done\nwait $sc\nrc=$?\ndate +%s%N > " + d +
                      "/sidecar.done\nexit $rc\n");
  Process pod_proc(
      w.netns.exec({"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "bash", script}),
      d + "/pod.log");
  bool started = w.probeStarted(kSidecar);
  INFO("sidecar log:\n" << readWholeFile(d + "/sidecar.log") << "\npod log:\n" << pod_proc.log());
  REQUIRE(started);
  int fd = -1;  // the pause process is blocked opening the FIFO for reading by now
  REQUIRE(eventually([&] { return (fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) >= 0; }));
  REQUIRE(::write(fd, "go\n", 3) == 3);
  ::close(fd);

  std::optional<int> code = pod_proc.wait(std::chrono::seconds(30));
  INFO("sidecar log at the end:\n" << readWholeFile(d + "/sidecar.log"));
  REQUIRE(code.has_value());
  CHECK(*code == 0);  // the sidecar's exit status, passed on by pid 1
  w.checkJobOutput(readWholeFile(d + "/job.out"), readWholeFile(d + "/job.err"));
  long job_done = std::stol(readWholeFile(d + "/job.done"));
  long sidecar_done = std::stol(readWholeFile(d + "/sidecar.done"));
  CHECK((sidecar_done - job_done) / 1000000 < 10000);  // scan (1 s) + drain + goodbye
  CHECK(readWholeFile(d + "/sidecar.log").find("the pod's other containers have exited") !=
        std::string::npos);
  w.checkAudit(w.job_statements);
  CHECK(eventually([&] { return w.podEvents(v1::EVENT_SESSION_END).size() == 1; }));
}

}  // namespace

TEST_CASE("classic sidecar: in a shared PID namespace it exits on its own when the job ends",
          "[pod][e2e]") {
  if (!canRunPods()) SKIP("needs root, ip, iptables, setpriv, unshare, curl and openssl");
  // The job outlives two process scans of the sidecar (one a second).
  PodWorld w("classic", "SELECT pg_sleep(2.5)");
  runClassicPod(w);
}

// Regression: a job that starts and ends between two process scans was never seen, so the
// sidecar waited forever and the Job never completed. Its use of the gate now counts.
TEST_CASE("classic sidecar exits even when the job ended between two process scans", "[pod][e2e]") {
  if (!canRunPods()) SKIP("needs root, ip, iptables, setpriv, unshare, curl and openssl");
  PodWorld w("classic");
  runClassicPod(w);
}
