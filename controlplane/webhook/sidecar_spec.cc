// Builds the containers and volumes the webhook injects.
#include "controlplane/webhook/sidecar_spec.h"

#include "common/daemon.h"

namespace tollgate::controlplane::webhook {
namespace {

using Json = nlohmann::json;

std::string joinComma(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

Json fieldEnv(const char* name, const char* path) {
  return Json{{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", path}}}}}};
}

Json resources(const ResourceQuantities& q) {
  Json requests = Json::object();
  Json limits = Json::object();
  if (!q.cpu_request.empty()) requests["cpu"] = q.cpu_request;
  if (!q.memory_request.empty()) requests["memory"] = q.memory_request;
  if (!q.cpu_limit.empty()) limits["cpu"] = q.cpu_limit;
  if (!q.memory_limit.empty()) limits["memory"] = q.memory_limit;
  Json out = Json::object();
  if (!requests.empty()) out["requests"] = requests;
  if (!limits.empty()) out["limits"] = limits;
  return out;
}

Json probe(const WebhookConfig& config, int period, int failures) {
  return Json{{"httpGet", {{"path", "/readyz"}, {"port", config.admin_port}}},
              {"periodSeconds", period},
              {"failureThreshold", failures},
              {"timeoutSeconds", 1}};
}

}  // namespace

Json redirectContainer(const WebhookConfig& config, const RedirectLists& lists) {
  Json args = Json::array({"redirect", "--proxy-port", std::to_string(config.proxy_port),
                           "--proxy-uid", std::to_string(config.sidecar_uid)});
  auto addList = [&](const char* flag, const std::vector<std::string>& items) {
    if (items.empty()) return;
    args.push_back(flag);
    args.push_back(joinComma(items));
  };
  addList("--exclude-ports", lists.exclude_ports);
  addList("--exclude-cidrs", lists.exclude_cidrs);
  addList("--include-ports", lists.include_ports);
  addList("--include-cidrs", lists.include_cidrs);
  return Json{
      {"name", kRedirectName},
      {"image", config.sidecar_image},
      {"imagePullPolicy", config.image_pull_policy},
      {"command", Json::array({kBinary})},
      {"args", args},
      {"resources",
       {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}},
        {"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}}},
      {"securityContext",
       {{"runAsUser", 0},
        {"runAsGroup", 0},
        {"runAsNonRoot", false},
        {"privileged", false},
        {"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities",
         {{"add", Json::array({"NET_ADMIN", "NET_RAW"})}, {"drop", Json::array({"ALL"})}}}}},
      {"volumeMounts", Json::array({{{"name", kRunVolume}, {"mountPath", "/run"}}})},
  };
}

Json sidecarContainer(const WebhookConfig& config) {
  Json args =
      Json::array({"--admin-address", "0.0.0.0", "--admin-port", std::to_string(config.admin_port),
                   "--transparent-port", std::to_string(config.proxy_port), "--control-plane",
                   "$(TOLLGATE_CONTROL_PLANE)", "--token-file", kTokenPath, "--spool-dir",
                   std::string(kDataDir) + "/spool", "--log-format", "json"});
  if (config.mode == InjectionMode::kClassic) args.push_back("--exit-when-done");
  for (const std::string& a : config.extra_args) args.push_back(a);
  Json c{
      {"name", kSidecarName},
      {"image", config.sidecar_image},
      {"imagePullPolicy", config.image_pull_policy},
      {"command", Json::array({kBinary})},
      {"args", args},
      {"env",
       Json::array({fieldEnv("POD_NAME", "metadata.name"),
                    fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                    fieldEnv("POD_UID", "metadata.uid"),
                    {{"name", "TOLLGATE_CONTROL_PLANE"}, {"value", config.control_plane_address}},
                    {{"name", "TOLLGATE_TOKEN_FILE"}, {"value", kTokenPath}}})},
      {"resources", resources(config.resources)},
      {"securityContext",
       {{"runAsUser", config.sidecar_uid},
        {"runAsGroup", config.sidecar_uid},
        {"runAsNonRoot", true},
        {"privileged", false},
        {"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", Json::array({"ALL"})}}},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      // Native sidecars: the kubelet starts the next init container only once this passes,
      // so nothing of the pod's own runs before the gate is up.
      {"startupProbe", probe(config, 1, 120)},
      {"readinessProbe", probe(config, 5, 3)},
      {"volumeMounts",
       Json::array({{{"name", kTokenVolume}, {"mountPath", kTokenDir}, {"readOnly", true}},
                    {{"name", kDataVolume}, {"mountPath", kDataDir}}})},
  };
  if (!config.control_plane_ca_pem.empty()) {
    // The job's namespace has no copy of the control plane's CA: it travels in the pod spec
    // (a public certificate, not a secret).
    c["env"].push_back(
        {{"name", "TOLLGATE_CONTROL_PLANE_CA_PEM"}, {"value", config.control_plane_ca_pem}});
  }
  if (config.mode == InjectionMode::kNative) c["restartPolicy"] = "Always";
  return c;
}

std::vector<Json> injectedVolumes(const WebhookConfig& config) {
  return {
      Json{{"name", kTokenVolume},
           {"projected",
            {{"sources", Json::array({{{"serviceAccountToken",
                                        {{"audience", config.token_audience},
                                         {"expirationSeconds", config.token_expiry_seconds},
                                         {"path", "token"}}}}})}}}},
      Json{{"name", kDataVolume}, {"emptyDir", {{"sizeLimit", "128Mi"}}}},
      Json{{"name", kRunVolume}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "1Mi"}}}},
  };
}

std::string statusAnnotation(const WebhookConfig& config) {
  Json status{{"version", std::string(kVersion)},
              {"mode", config.mode == InjectionMode::kNative ? "native" : "classic"},
              {"containers", Json::array({kRedirectName, kSidecarName})},
              {"volumes", Json::array({kTokenVolume, kDataVolume, kRunVolume})}};
  return status.dump();
}

}  // namespace tollgate::controlplane::webhook
