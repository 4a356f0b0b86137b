// Webhook settings: the `webhook:` YAML key read strictly, and validation of what types allow.
#include <string>

#include <catch2/catch_test_macros.hpp>

#include "common/yaml_reader.h"
#include "controlplane/webhook/webhook_config.h"

using namespace tollgate;
using namespace tollgate::controlplane::webhook;

namespace {

std::string read(const std::string& yaml, WebhookConfig& cfg) {
  YamlErrors errors("cp.yaml");
  auto node = parseYaml(yaml, "cp.yaml");
  REQUIRE(node.ok());
  YamlMap top(*node, errors, "controlplane config");
  readWebhookConfig(top, cfg);
  top.finish();
  return errors.toString();
}

}  // namespace

TEST_CASE("a full webhook section is read") {
  WebhookConfig cfg;
  std::string errs = read(R"(
webhook:
  enabled: true
  address: 0.0.0.0
  port: 9443
  tls: {cert: /etc/wh/tls.crt, key: /etc/wh/tls.key}
  image: reg.example/tollgate/sidecar:1.2.3
  imagePullPolicy: Always
  controlPlaneAddress: tg.tollgate.svc:15090
  namespace: tollgate
  controlPlaneCaFile: /etc/tollgate/grpc/ca.crt
  mode: classic
  resources: {requests: {cpu: 20m, memory: 32Mi}, limits: {cpu: 500m, memory: 128Mi}}
  sidecarUid: 20000
  proxyPort: 16001
  adminPort: 16020
  excludePorts: [15020, "9000-9100"]
  excludeCidrs: [10.96.0.1/32, "fd00::/8"]
  includePorts: 5432
  includeCidrs: []
  tokenAudience: tollgate-prod
  tokenExpiry: 1h
  neverInject: [kube-system, monitoring]
  extraArgs: [--log-level, debug]
  maxBodyBytes: 2097152
)",
                          cfg);
  CHECK(errs.empty());
  CHECK(cfg.enabled);
  CHECK(cfg.port == 9443);
  CHECK(cfg.tls_cert == "/etc/wh/tls.crt");
  CHECK(cfg.sidecar_image == "reg.example/tollgate/sidecar:1.2.3");
  CHECK(cfg.image_pull_policy == "Always");
  CHECK(cfg.mode == InjectionMode::kClassic);
  CHECK(cfg.control_plane_ca_file == "/etc/tollgate/grpc/ca.crt");
  CHECK(cfg.resources.cpu_request == "20m");
  CHECK(cfg.resources.memory_limit == "128Mi");
  CHECK(cfg.sidecar_uid == 20000);
  CHECK(cfg.proxy_port == 16001);
  CHECK(cfg.exclude_ports == std::vector<std::string>{"15020", "9000-9100"});
  CHECK(cfg.exclude_cidrs == std::vector<std::string>{"10.96.0.1/32", "fd00::/8"});
  CHECK(cfg.include_ports == std::vector<std::string>{"5432"});
  CHECK(cfg.token_audience == "tollgate-prod");
  CHECK(cfg.token_expiry_seconds == 3600);
  CHECK(cfg.never_inject_namespaces == std::vector<std::string>{"kube-system", "monitoring"});
  CHECK(cfg.extra_args.size() == 2);
  CHECK(cfg.max_body_bytes == 2097152);
  CHECK(validateWebhookConfig(cfg).ok());
}

TEST_CASE("an absent webhook section leaves the defaults") {
  WebhookConfig cfg;
  CHECK(read("{}\n", cfg).empty());
  CHECK_FALSE(cfg.enabled);
  CHECK(cfg.mode == InjectionMode::kNative);
  CHECK(cfg.sidecar_uid == 15337);
  CHECK(cfg.proxy_port == 15001);
  CHECK(cfg.token_audience == "tollgate");
  CHECK(cfg.token_expiry_seconds == 600);
  CHECK(cfg.never_inject_namespaces == std::vector<std::string>{"kube-system"});
  CHECK(validateWebhookConfig(cfg).ok());
}

TEST_CASE("bad webhook YAML is reported with its position") {
  struct Case {
    const char* yaml;
    const char* error_part;
  };
  for (const Case& c : {
           Case{"webhook: {imagePullPolicy: Sometimes}\n", "imagePullPolicy"},
           Case{"webhook: {mode: sidecar}\n", "mode"},
           Case{"webhook: {tokenExpiry: 5m}\n", "tokenExpiry"},
           Case{"webhook: {excludeCidrs: [10.0.0.0/33]}\n", "10.0.0.0/33"},
           Case{"webhook: {excludePorts: [\"70000\"]}\n", "70000"},
           Case{"webhook: {includePorts: [\"9-1\"]}\n", "9-1"},
           Case{"webhook: {sidecarUid: 0}\n", "sidecarUid"},
           Case{"webhook: {tls: {cert: /a}}\n", "key"},
           Case{"webhook: {colour: blue}\n", "colour"},
           Case{"webhook: [1]\n", "webhook"},
       }) {
    INFO(c.yaml);
    WebhookConfig cfg;
    std::string errs = read(c.yaml, cfg);
    CHECK(errs.find(c.error_part) != std::string::npos);
    CHECK(errs.find("cp.yaml:1:") != std::string::npos);
  }
}

TEST_CASE("validation catches what the types allow") {
  auto problem = [](void (*edit)(WebhookConfig&)) {
    WebhookConfig cfg;
    edit(cfg);
    absl::Status st = validateWebhookConfig(cfg);
    return st.ok() ? std::string() : std::string(st.message());
  };
  CHECK(problem([](WebhookConfig& c) { c.enabled = true; }).find("tls") != std::string::npos);
  CHECK(problem([](WebhookConfig& c) { c.token_expiry_seconds = 599; }).find("tokenExpiry") !=
        std::string::npos);
  CHECK(problem([](WebhookConfig& c) { c.proxy_port = c.admin_port; }).find("differ") !=
        std::string::npos);
  CHECK(problem([](WebhookConfig& c) { c.sidecar_uid = 0; }).find("sidecarUid") !=
        std::string::npos);
  CHECK(problem([](WebhookConfig& c) { c.sidecar_image.clear(); }).find("image") !=
        std::string::npos);
  CHECK(problem([](WebhookConfig& c) {
          c.include_cidrs = {"10.0.0.0/8", "nope"};
        }).find("nope") != std::string::npos);
  CHECK(problem([](WebhookConfig& c) { c.exclude_ports = {"0"}; }).find("\"0\"") !=
        std::string::npos);
}

TEST_CASE("port specs and CIDRs") {
  for (const char* ok : {"1", "5432", "65535", "8000-8080", "8000:8080", "80-80"}) {
    INFO(ok);
    CHECK(isValidPortSpec(ok));
  }
  for (const char* bad : {"", "0", "65536", "80-", "-80", "90-80", "8a", "80,81", " 80"}) {
    INFO(bad);
    CHECK_FALSE(isValidPortSpec(bad));
  }
  for (const char* ok : {"10.0.0.0/8", "10.1.2.3", "0.0.0.0/0", "::1", "fd00::/8", "::/0"}) {
    INFO(ok);
    CHECK(isValidCidr(ok));
  }
  for (const char* bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "10.0.0.0/", "host",
                          "10.0.0.0/8/8", "10.0.0.0/-1"}) {
    INFO(bad);
    CHECK_FALSE(isValidCidr(bad));
  }
}
