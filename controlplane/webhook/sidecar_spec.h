// The Kubernetes objects the webhook adds to a pod: the redirect init container, the sidecar
// container and their volumes, as JSON ready to go into a JSON Patch.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/webhook/webhook_config.h"

namespace tollgate::controlplane::webhook {

inline constexpr const char* kSidecarName = "tollgate-sidecar";
inline constexpr const char* kRedirectName = "tollgate-redirect";
inline constexpr const char* kTokenVolume = "tollgate-token";
inline constexpr const char* kDataVolume = "tollgate-data";
inline constexpr const char* kRunVolume = "tollgate-run";
inline constexpr const char* kTokenDir = "/var/run/secrets/tollgate";
inline constexpr const char* kTokenPath = "/var/run/secrets/tollgate/token";
inline constexpr const char* kDataDir = "/var/lib/tollgate";
inline constexpr const char* kBinary = "/usr/local/bin/tollgate-sidecar";

// Annotations and labels the webhook reads or writes.
inline constexpr const char* kStatusAnnotation = "tollgate.io/status";
inline constexpr const char* kInjectKey = "tollgate.io/inject";
inline constexpr const char* kExcludePortsAnnotation = "tollgate.io/exclude-outbound-ports";
inline constexpr const char* kExcludeCidrsAnnotation = "tollgate.io/exclude-outbound-cidrs";

// Outbound exclusions for one pod: the configured lists plus the pod's annotations.
struct RedirectLists {
  std::vector<std::string> exclude_ports;
  std::vector<std::string> exclude_cidrs;
  std::vector<std::string> include_ports;
  std::vector<std::string> include_cidrs;
};

// `tollgate-sidecar redirect ...` as root with NET_ADMIN and NET_RAW only (iptables needs both),
// everything else dropped; /run is a tiny emptyDir for the xtables lock (read-only root fs).
nlohmann::json redirectContainer(const WebhookConfig& config, const RedirectLists& lists);

// The sidecar: non-root `sidecar_uid`, read-only root fs, no privilege escalation, all
// capabilities dropped; downward-API env (POD_NAME, POD_NAMESPACE, POD_UID), the control-plane
// address, the projected token, /readyz startup and readiness probes on the admin port. Native
// mode adds restartPolicy: Always; classic mode adds --exit-when-done.
nlohmann::json sidecarContainer(const WebhookConfig& config);

// The volumes both containers mount: the projected ServiceAccount token (audience, expiry from
// config, file "token"), the sidecar's data emptyDir (event spool) and the redirect's /run.
std::vector<nlohmann::json> injectedVolumes(const WebhookConfig& config);

// The tollgate.io/status annotation value: compact JSON
// {"version":"0.1.0","mode":"native","containers":[...],"volumes":[...]}.
std::string statusAnnotation(const WebhookConfig& config);

}  // namespace tollgate::controlplane::webhook
