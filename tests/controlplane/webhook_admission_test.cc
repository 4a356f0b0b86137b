// Admission webhook core: reviews of realistic pods in, patches applied with a real JSON Patch
// implementation (nlohmann's json::patch), the resulting pods checked.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "controlplane/webhook/admission.h"
#include "controlplane/webhook/injection.h"
#include "tests/controlplane/webhook_testing.h"

using namespace tollgate::controlplane::webhook;
using namespace tollgate::controlplane::webhook::testing;

namespace {

WebhookConfig testConfig() {
  WebhookConfig c;
  c.sidecar_image = "registry.example/tollgate/sidecar:0.1.0";
  c.control_plane_address = "tollgate.tollgate-system.svc:15090";
  c.control_plane_namespace = "tollgate-system";
  c.exclude_cidrs = {"10.96.0.1/32"};
  c.control_plane_ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  return c;
}

const Json* findNamed(const Json& list, const std::string& name) {
  for (const Json& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

std::vector<std::string> names(const Json& list) {
  std::vector<std::string> out;
  for (const Json& item : list) out.push_back(item.value("name", ""));
  return out;
}

std::string envValue(const Json& container, const std::string& name) {
  const Json* e = findNamed(container["env"], name);
  if (e == nullptr) return "<missing>";
  if (e->contains("value")) return (*e)["value"].get<std::string>();
  return "field:" + (*e)["valueFrom"]["fieldRef"]["fieldPath"].get<std::string>();
}

bool hasArg(const Json& container, const std::string& arg) {
  const Json& args = container["args"];
  return std::find(args.begin(), args.end(), Json(arg)) != args.end();
}

// The pod after applying the review's patch (requires a patch).
Json patched(const Json& pod, const Outcome& o) {
  REQUIRE(o.patch.is_array());
  return pod.patch(o.patch);
}

}  // namespace

TEST_CASE("a Job pod with init containers gets redirect then native sidecar first") {
  WebhookConfig config = testConfig();
  Json pod = jobPod();
  Outcome o =
      runReview(podReview(pod, "payments-ci", "705ab4f5-6393-11e8-b7cc-42010a800002"), config);
  REQUIRE(o.result.http_status == 200);
  CHECK(o.result.decision == "patched");
  CHECK(o.response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(o.response["allowed"] == true);
  CHECK(o.response["patchType"] == "JSONPatch");
  Json out = patched(pod, o);

  CHECK(names(out["spec"]["initContainers"]) ==
        std::vector<std::string>{"tollgate-redirect", "tollgate-sidecar", "migrate-check"});
  CHECK(names(out["spec"]["containers"]) == std::vector<std::string>{"report"});
  CHECK(out["spec"]["containers"] == pod["spec"]["containers"]);  // the job itself untouched
  CHECK(names(out["spec"]["volumes"]) ==
        std::vector<std::string>{"out", "tollgate-token", "tollgate-data", "tollgate-run"});

  const Json& redirect = out["spec"]["initContainers"][0];
  CHECK(redirect["image"] == config.sidecar_image);
  CHECK(redirect["args"][0] == "redirect");
  CHECK(hasArg(redirect, "--proxy-uid"));
  CHECK(hasArg(redirect, "15337"));
  CHECK(hasArg(redirect, "15001"));
  CHECK(hasArg(redirect, "10.96.0.1/32"));
  CHECK(!redirect.contains("restartPolicy"));
  const Json& rsc = redirect["securityContext"];
  CHECK(rsc["runAsUser"] == 0);
  CHECK(rsc["runAsNonRoot"] == false);
  CHECK(rsc["allowPrivilegeEscalation"] == false);
  CHECK(rsc["capabilities"]["add"] == Json::array({"NET_ADMIN", "NET_RAW"}));
  CHECK(rsc["capabilities"]["drop"] == Json::array({"ALL"}));

  const Json& sidecar = out["spec"]["initContainers"][1];
  CHECK(sidecar["restartPolicy"] == "Always");
  CHECK(!hasArg(sidecar, "--exit-when-done"));
  const Json& ssc = sidecar["securityContext"];
  CHECK(ssc["runAsUser"] == 15337);
  CHECK(ssc["runAsNonRoot"] == true);
  CHECK(ssc["readOnlyRootFilesystem"] == true);
  CHECK(ssc["allowPrivilegeEscalation"] == false);
  CHECK(ssc["capabilities"]["drop"] == Json::array({"ALL"}));
  CHECK(!ssc["capabilities"].contains("add"));
  CHECK(envValue(sidecar, "POD_NAME") == "field:metadata.name");
  CHECK(envValue(sidecar, "POD_NAMESPACE") == "field:metadata.namespace");
  CHECK(envValue(sidecar, "POD_UID") == "field:metadata.uid");
  CHECK(envValue(sidecar, "TOLLGATE_CONTROL_PLANE") == config.control_plane_address);
  CHECK(envValue(sidecar, "TOLLGATE_CONTROL_PLANE_CA_PEM") == config.control_plane_ca_pem);
  CHECK(hasArg(sidecar, "$(TOLLGATE_CONTROL_PLANE)"));
  CHECK(sidecar["resources"]["requests"]["memory"] == "64Mi");
  CHECK(sidecar["resources"]["limits"]["cpu"] == "1");
  CHECK(sidecar["startupProbe"]["httpGet"]["port"] == 15020);
  const Json* mount = findNamed(sidecar["volumeMounts"], "tollgate-token");
  REQUIRE(mount != nullptr);
  CHECK((*mount)["mountPath"] == "/var/run/secrets/tollgate");
  CHECK((*mount)["readOnly"] == true);
  // The job's containers never see the workload token.
  CHECK(findNamed(out["spec"]["containers"][0]["volumeMounts"], "tollgate-token") == nullptr);

  const Json* token = findNamed(out["spec"]["volumes"], "tollgate-token");
  REQUIRE(token != nullptr);
  const Json& sat = (*token)["projected"]["sources"][0]["serviceAccountToken"];
  CHECK(sat["audience"] == "tollgate");
  CHECK(sat["expirationSeconds"] == 600);
  CHECK(sat["path"] == "token");

  const Json& annotations = out["metadata"]["annotations"];
  CHECK(annotations["batch.kubernetes.io/job-tracking"] == "");  // kept
  Json status = Json::parse(annotations["tollgate.io/status"].get<std::string>());
  CHECK(status["version"] == "0.1.0");
  CHECK(status["mode"] == "native");
  CHECK(status["containers"] == Json::array({"tollgate-redirect", "tollgate-sidecar"}));
}

TEST_CASE("a pod without annotations, volumes or init containers gets them created") {
  Json pod = barePod();
  Outcome o = runReview(podReview(pod, "team-a"), testConfig());
  REQUIRE(o.result.decision == "patched");
  // The patch creates the missing members rather than appending to absent arrays.
  std::vector<std::string> paths;
  for (const Json& op : o.patch) paths.push_back(op["path"].get<std::string>());
  CHECK(std::find(paths.begin(), paths.end(), "/metadata/annotations") != paths.end());
  CHECK(std::find(paths.begin(), paths.end(), "/spec/volumes") != paths.end());
  CHECK(std::find(paths.begin(), paths.end(), "/spec/initContainers") != paths.end());
  Json out = patched(pod, o);
  CHECK(names(out["spec"]["initContainers"]) ==
        std::vector<std::string>{"tollgate-redirect", "tollgate-sidecar"});
  CHECK(out["metadata"]["annotations"].contains("tollgate.io/status"));
  CHECK(out["spec"]["volumes"].size() == 3);

  Json no_metadata = barePod();
  no_metadata.erase("metadata");
  Outcome o2 = runReview(podReview(no_metadata, "team-a"), testConfig());
  REQUIRE(o2.result.decision == "patched");
  CHECK(patched(no_metadata, o2)["metadata"]["annotations"].contains("tollgate.io/status"));
}

TEST_CASE("the status annotation key is JSON-Pointer escaped when annotations exist") {
  CHECK(escapeJsonPointer("tollgate.io/status") == "tollgate.io~1status");
  CHECK(escapeJsonPointer("a~b/c") == "a~0b~1c");
  CHECK(escapeJsonPointer("~1") == "~01");
  Outcome o = runReview(podReview(jobPod(), "payments-ci"), testConfig());
  bool found = false;
  for (const Json& op : o.patch) {
    found |= op["path"] == "/metadata/annotations/tollgate.io~1status";
  }
  CHECK(found);
}

TEST_CASE("injecting twice changes nothing") {
  for (Json pod : {jobPod(), barePod()}) {
    Outcome first = runReview(podReview(pod, "payments-ci"), testConfig());
    Json once = patched(pod, first);
    Outcome second = runReview(podReview(once, "payments-ci"), testConfig());
    CHECK(second.result.decision == "skipped");
    CHECK(second.result.reason == "already injected");
    CHECK(second.response["allowed"] == true);
    CHECK(!second.response.contains("patch"));
    CHECK(!second.response.contains("patchType"));
  }
}

TEST_CASE("pods that must not be injected are allowed unchanged") {
  struct Case {
    const char* name;
    Json pod;
    std::string ns;
    OptIn opt_in;
    const char* reason_part;
  };
  Json opted_out = jobPod();
  opted_out["metadata"]["labels"]["tollgate.io/inject"] = "disabled";
  Json annotated_out = jobPod();
  annotated_out["metadata"]["annotations"]["tollgate.io/inject"] = "false";
  Json host = jobPod();
  host["spec"]["hostNetwork"] = true;
  Json sidecar_present = barePod();
  sidecar_present["spec"]["containers"].push_back({{"name", "tollgate-sidecar"}, {"image", "x"}});
  Json not_annotated = jobPod();
  std::vector<Case> cases = {
      {"opted out by label", opted_out, "payments-ci", OptIn::kSelected, "opted out"},
      {"opted out by annotation", annotated_out, "payments-ci", OptIn::kSelected, "opted out"},
      {"hostNetwork", host, "payments-ci", OptIn::kSelected, "hostNetwork"},
      {"kube-system", jobPod(), "kube-system", OptIn::kSelected, "never injected"},
      {"control plane namespace", jobPod(), "tollgate-system", OptIn::kSelected, "control plane"},
      {"annotation opt-in path, no annotation", not_annotated, "other", OptIn::kPodAnnotation,
       "not opted in"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Outcome o = runReview(podReview(c.pod, c.ns), testConfig(), c.opt_in);
    CHECK(o.result.http_status == 200);
    CHECK(o.result.decision == "skipped");
    CHECK(o.result.reason.find(c.reason_part) != std::string::npos);
    CHECK(o.response["allowed"] == true);
    CHECK(o.response["uid"] == "uid-1");
    CHECK(!o.response.contains("patch"));
  }
}

TEST_CASE("the annotation opt-in path injects annotated pods") {
  Json pod = jobPod();
  pod["metadata"]["annotations"]["tollgate.io/inject"] = "true";
  Outcome o = runReview(podReview(pod, "other"), testConfig(), OptIn::kPodAnnotation);
  CHECK(o.result.decision == "patched");
}

TEST_CASE("the namespace comes from the pod when the request has none") {
  Json pod = jobPod();
  pod["metadata"]["namespace"] = "kube-system";
  Outcome o = runReview(podReview(pod, ""), testConfig());
  CHECK(o.result.decision == "skipped");
  CHECK(o.result.ns == "kube-system");
}

TEST_CASE("a forged status annotation is not injected and draws a warning") {
  Json pod = barePod();
  pod["metadata"]["annotations"] = {{"tollgate.io/status", "{}"}};
  Outcome o = runReview(podReview(pod, "payments-ci"), testConfig());
  CHECK(o.result.decision == "skipped");
  REQUIRE(o.response.contains("warnings"));
  CHECK(o.response["warnings"][0].get<std::string>().find("not injected") != std::string::npos);
}

TEST_CASE("a container named like the sidecar, without the status annotation, draws a warning") {
  for (const char* where : {"containers", "initContainers"}) {
    for (const char* name : {"tollgate-sidecar", "tollgate-redirect"}) {
      if (std::string(where) == "containers" && std::string(name) == "tollgate-redirect") continue;
      Json pod = barePod();
      pod["spec"][where].push_back({{"name", name}, {"image", "x"}});
      Outcome o = runReview(podReview(pod, "payments-ci"), testConfig());
      INFO(where << " " << name);
      CHECK(o.result.decision == "skipped");
      CHECK(o.result.reason == "already injected (container name, no status annotation)");
      CHECK(o.response["allowed"] == true);
      CHECK(!o.response.contains("patch"));
      REQUIRE(o.response.contains("warnings"));
      CHECK(o.response["warnings"][0].get<std::string>().find("not injected") != std::string::npos);
    }
  }
}

TEST_CASE("classic mode adds a container that exits when the job is done") {
  WebhookConfig config = testConfig();
  config.mode = InjectionMode::kClassic;
  Json pod = jobPod();
  Outcome o = runReview(podReview(pod, "payments-ci"), config);
  Json out = patched(pod, o);
  CHECK(names(out["spec"]["initContainers"]) ==
        std::vector<std::string>{"tollgate-redirect", "migrate-check"});
  CHECK(names(out["spec"]["containers"]) == std::vector<std::string>{"tollgate-sidecar", "report"});
  const Json& sidecar = out["spec"]["containers"][0];
  CHECK(!sidecar.contains("restartPolicy"));
  CHECK(hasArg(sidecar, "--exit-when-done"));
  CHECK(out["spec"]["shareProcessNamespace"] == true);
  CHECK(out["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "report");
  Json status =
      Json::parse(out["metadata"]["annotations"]["tollgate.io/status"].get<std::string>());
  CHECK(status["mode"] == "classic");
  // And twice is still once.
  CHECK(runReview(podReview(out, "payments-ci"), config).result.decision == "skipped");
}

TEST_CASE("per-pod exclusion annotations reach the redirect step, invalid ones deny") {
  Json pod = jobPod();
  pod["metadata"]["annotations"]["tollgate.io/exclude-outbound-ports"] = "8125, 9000-9100";
  pod["metadata"]["annotations"]["tollgate.io/exclude-outbound-cidrs"] = "192.168.0.0/16";
  Outcome o = runReview(podReview(pod, "payments-ci"), testConfig());
  Json out = patched(pod, o);
  const Json& redirect = out["spec"]["initContainers"][0];
  CHECK(hasArg(redirect, "8125,9000-9100"));
  CHECK(hasArg(redirect, "10.96.0.1/32,192.168.0.0/16"));

  Json bad = jobPod();
  bad["metadata"]["annotations"]["tollgate.io/exclude-outbound-ports"] = "80;rm -rf /";
  Outcome d = runReview(podReview(bad, "payments-ci"), testConfig());
  CHECK(d.result.decision == "denied");
  CHECK(d.response["allowed"] == false);
  CHECK(d.response["status"]["code"] == 400);
  CHECK(d.response["status"]["message"].get<std::string>().find("exclude-outbound-ports") !=
        std::string::npos);
}

TEST_CASE("pods the injection cannot handle are denied with the reason") {
  struct Case {
    const char* name;
    Json pod;
    const char* message_part;
  };
  Json no_containers = barePod();
  no_containers["spec"]["containers"] = Json::array();
  Json no_spec = barePod();
  no_spec.erase("spec");
  Json taken = jobPod();
  taken["spec"]["volumes"].push_back({{"name", "tollgate-token"}, {"emptyDir", Json::object()}});
  Json bad_init = jobPod();
  bad_init["spec"]["initContainers"] = "not a list";
  Json bad_annotations = jobPod();
  bad_annotations["metadata"]["annotations"] = Json::array({1, 2});
  // Red-team round 7: the redirect exempts the sidecar's uid.
  Json as_sidecar = jobPod();
  as_sidecar["spec"]["containers"][0]["securityContext"] = {{"runAsUser", 15337}};
  Json pod_as_sidecar = jobPod();
  pod_as_sidecar["spec"]["securityContext"] = {{"runAsUser", 15337}};
  // Review (session 22): an init container as the sidecar's uid was injected and allowed.
  Json init_as_sidecar = jobPod();
  init_as_sidecar["spec"]["initContainers"] = Json::array(
      {{{"name", "migrate"}, {"image", "m"}, {"securityContext", {{"runAsUser", 15337}}}}});
  // Review (session 23): what lets a job's container around the gate.
  Json privileged = jobPod();
  privileged["spec"]["containers"][0]["securityContext"] = {{"privileged", true}};
  Json net_admin = jobPod();
  net_admin["spec"]["containers"][0]["securityContext"] = {
      {"capabilities", {{"add", Json::array({"CHOWN", "NET_ADMIN"})}}}};
  Json init_sys_admin = jobPod();
  init_sys_admin["spec"]["initContainers"] = Json::array(
      {{{"name", "migrate"},
        {"image", "m"},
        {"securityContext", {{"capabilities", {{"add", Json::array({"CAP_SYS_ADMIN"})}}}}}}});
  Json ptrace = jobPod();
  ptrace["spec"]["containers"][0]["securityContext"] = {
      {"capabilities", {{"add", Json::array({"cap_sys_ptrace"})}}}};
  Json token_mount = jobPod();
  token_mount["spec"]["containers"][0]["volumeMounts"] =
      Json::array({{{"name", "tollgate-token"}, {"mountPath", "/var/run/secrets/tollgate"}}});
  Json spool_mount = jobPod();
  spool_mount["spec"]["initContainers"] = Json::array(
      {{{"name", "migrate"},
        {"image", "m"},
        {"volumeMounts", Json::array({{{"name", "tollgate-data"}, {"mountPath", "/d"}}})}}});
  Json own_token = jobPod();
  own_token["spec"]["volumes"].push_back(
      {{"name", "my-token"},
       {"projected",
        {{"sources",
          Json::array({{{"serviceAccountToken", {{"audience", "tollgate"}, {"path", "t"}}}}})}}}});
  std::vector<Case> cases = {
      {"a privileged container", privileged, "container report is privileged"},
      {"a container adding NET_ADMIN", net_admin, "container report adds capability NET_ADMIN"},
      {"an init container adding SYS_ADMIN", init_sys_admin,
       "init container migrate adds capability SYS_ADMIN"},
      {"a container adding cap_sys_ptrace", ptrace, "adds capability SYS_PTRACE"},
      {"a container mounting the sidecar's token", token_mount,
       "container report mounts tollgate-token"},
      {"an init container mounting the sidecar's spool", spool_mount,
       "init container migrate mounts tollgate-data"},
      {"a token for the control plane's audience", own_token,
       "volume my-token projects a service account token for audience tollgate"},
      {"no containers", no_containers, "no containers"},
      {"no spec", no_spec, "no spec"},
      {"volume name taken", taken, "tollgate-token"},
      {"initContainers not a list", bad_init, "initContainers"},
      {"annotations not an object", bad_annotations, "annotations"},
      {"a container running as the sidecar's uid", as_sidecar, "runs as uid 15337"},
      {"a pod running as the sidecar's uid", pod_as_sidecar, "runAsUser is 15337"},
      {"an init container running as the sidecar's uid", init_as_sidecar,
       "init container migrate runs as uid 15337"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Outcome o = runReview(podReview(c.pod, "payments-ci", "u-9"), testConfig());
    CHECK(o.result.http_status == 200);
    CHECK(o.result.decision == "denied");
    CHECK(o.response["uid"] == "u-9");
    CHECK(o.response["allowed"] == false);
    CHECK(o.response["status"]["message"].get<std::string>().find(c.message_part) !=
          std::string::npos);
  }
}

TEST_CASE("a request that is not a Pod CREATE is allowed with a warning") {
  Json deployment = podReview(barePod(), "payments-ci");
  deployment["request"]["kind"] = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  Json update = podReview(barePod(), "payments-ci");
  update["request"]["operation"] = "UPDATE";
  for (const Json& review : {deployment, update}) {
    Outcome o = runReview(review, testConfig());
    CHECK(o.result.http_status == 200);
    CHECK(o.result.decision == "ignored");
    CHECK(o.response["allowed"] == true);
    CHECK(!o.response.contains("patch"));
    REQUIRE(o.response.contains("warnings"));
  }
}

TEST_CASE("malformed reviews get a 400 AdmissionReview error, never a crash") {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  std::string deep_review = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
                            R"("request":{"uid":"u","object":)" +
                            std::string(200, '[') + std::string(200, ']') + "}}";
  Json no_uid = podReview(barePod(), "a");
  no_uid["request"].erase("uid");
  Json numeric_uid = podReview(barePod(), "a");
  numeric_uid["request"]["uid"] = 42;
  Json beta = podReview(barePod(), "a");
  beta["apiVersion"] = "admission.k8s.io/v1beta1";
  Json no_request = podReview(barePod(), "a");
  no_request.erase("request");
  struct Case {
    const char* name;
    std::string body;
    const char* message_part;
  };
  std::vector<Case> cases = {
      {"empty body", "", "not valid JSON"},
      {"truncated", podReview(barePod(), "a").dump().substr(0, 80), "not valid JSON"},
      {"not an object", "[1,2,3]", "not a JSON object"},
      {"invalid UTF-8", std::string("{\"a\":\"\xff\xfe\"}"), "not valid JSON"},
      {"deep nesting", deep, "deeper"},
      {"deep object", deep_review, "deeper"},
      {"duplicate key",
       R"({"apiVersion":"admission.k8s.io/v1","apiVersion":"x","kind":"AdmissionReview"})",
       "duplicate"},
      {"missing uid", no_uid.dump(), "uid"},
      {"numeric uid", numeric_uid.dump(), "uid"},
      {"v1beta1", beta.dump(), "admission.k8s.io/v1"},
      {"no request", no_request.dump(), "no request"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    AdmissionResult r = reviewAdmission(c.body, testConfig(), OptIn::kSelected);
    CHECK(r.http_status == 400);
    CHECK(r.decision == "malformed");
    Json body = Json::parse(r.body);
    CHECK(body["kind"] == "AdmissionReview");
    CHECK(body["response"]["allowed"] == false);
    CHECK(body["response"]["status"]["code"] == 400);
    std::string message = body["response"]["status"]["message"].get<std::string>();
    CHECK(message.find("tollgate webhook: ") == 0);
    CHECK(message.find(c.message_part) != std::string::npos);
  }
}

TEST_CASE("base64 encoding matches RFC 4648 test vectors") {
  CHECK(base64Encode("") == "");
  CHECK(base64Encode("f") == "Zg==");
  CHECK(base64Encode("fo") == "Zm8=");
  CHECK(base64Encode("foo") == "Zm9v");
  CHECK(base64Encode("foob") == "Zm9vYg==");
  CHECK(base64Encode("fooba") == "Zm9vYmE=");
  CHECK(base64Encode("foobar") == "Zm9vYmFy");
  CHECK(base64Encode(std::string("\xff\xfe\x00", 3)) == "//4A");
}
