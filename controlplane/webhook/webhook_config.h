// Settings of the admission webhook that injects the Tollgate sidecar into pods.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/yaml_reader.h"

namespace tollgate::controlplane::webhook {

// How the sidecar is added to a pod.
//   kNative:  an initContainers entry with restartPolicy: Always (Kubernetes 1.29+): it starts
//             before the pod's own init containers and stops after the main containers, so Jobs
//             complete.
//   kClassic: a containers entry for older clusters; the pod gets shareProcessNamespace: true
//             and the sidecar runs with --exit-when-done (it drains and exits once no process
//             of the other containers is left in the pod).
enum class InjectionMode { kNative, kClassic };

// Requests/limits in Kubernetes quantity syntax ("50m", "64Mi"); empty = not set.
struct ResourceQuantities {
  std::string cpu_request = "50m";
  std::string memory_request = "64Mi";
  std::string cpu_limit = "1";
  std::string memory_limit = "256Mi";
};

// YAML (under the control-plane config's `webhook:` key; every key optional):
//   webhook:
//     enabled: true
//     address: 0.0.0.0
//     port: 15443
//     tls: {cert: /etc/tollgate/webhook/tls.crt, key: /etc/tollgate/webhook/tls.key}
//     image: registry.example.com/tollgate/sidecar:0.1.0
//     imagePullPolicy: IfNotPresent          # Always | IfNotPresent | Never
//     controlPlaneAddress: tollgate.tollgate.svc:15090
//     controlPlaneCaFile: /etc/tollgate/grpc/ca.crt
//     namespace: tollgate                    # the control plane's own namespace: never injected
//     mode: native                           # native | classic
//     resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: "1", memory: 256Mi}}
//     sidecarUid: 15337
//     proxyPort: 15001
//     adminPort: 15020
//     excludePorts: [15020]                  # outbound ports never redirected
//     excludeCidrs: [10.96.0.1/32]           # outbound destinations never redirected
//     includePorts: []                       # when set, only these ports are redirected
//     includeCidrs: []                       # when set, only these destinations are redirected
//     tokenAudience: tollgate
//     tokenExpiry: 10m                       # projected token lifetime, >= 10m (Kubernetes)
//     neverInject: [kube-system]             # plus `namespace`, always
//     extraArgs: ["--log-level", "debug"]    # appended to the sidecar's arguments
//     maxBodyBytes: 4194304
struct WebhookConfig {
  bool enabled = false;
  std::string address = "0.0.0.0";
  int port = 15443;
  std::string tls_cert;  // PEM files, re-read when they change (cert-manager rotation)
  std::string tls_key;
  std::string sidecar_image = "tollgate/sidecar:0.1.0";
  std::string image_pull_policy = "IfNotPresent";
  // host:port of the control plane's gRPC endpoint as the sidecars reach it.
  std::string control_plane_address = "tollgate.tollgate.svc:15090";
  std::string control_plane_namespace = "tollgate";
  // PEM file of the CA the control plane's gRPC certificate chains to; WebhookServer::start()
  // reads it into control_plane_ca_pem, which the sidecar gets as TOLLGATE_CONTROL_PLANE_CA_PEM.
  std::string control_plane_ca_file;
  std::string control_plane_ca_pem;
  InjectionMode mode = InjectionMode::kNative;
  ResourceQuantities resources;
  int64_t sidecar_uid = 15337;
  int proxy_port = 15001;
  int admin_port = 15020;
  std::vector<std::string> exclude_ports;
  std::vector<std::string> exclude_cidrs;
  std::vector<std::string> include_ports;
  std::vector<std::string> include_cidrs;
  std::string token_audience = "tollgate";
  int64_t token_expiry_seconds = 600;
  std::vector<std::string> never_inject_namespaces = {"kube-system"};
  std::vector<std::string> extra_args;
  // Larger request bodies get 413 and a denial (etcd objects are at most 1.5 MiB).
  size_t max_body_bytes = 4 * 1024 * 1024;
};

// True for "80", "1-1024" style single ports / ranges (1..65535, low <= high).
bool isValidPortSpec(const std::string& text);
// True for an IPv4 or IPv6 address with an optional /prefix ("10.0.0.0/8", "fd00::/8").
bool isValidCidr(const std::string& text);

// Checks what the types cannot: ports in range, uid in 1..2^31-1, token expiry within
// 600..86400 s (the Kubernetes bounds), pull policy known, every port spec / CIDR valid, image
// and control-plane address non-empty; when enabled, TLS cert and key set. INVALID_ARGUMENT
// naming the first problem ("webhook: ...").
absl::Status validateWebhookConfig(const WebhookConfig& config);

// Reads the optional `webhook` key of `parent` into `config` (strict: unknown keys and bad
// values are reported to parent.errors()). Leaves `config` unchanged when the key is absent.
void readWebhookConfig(YamlMap& parent, WebhookConfig& config);

}  // namespace tollgate::controlplane::webhook
