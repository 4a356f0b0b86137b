// Decides whether a pod gets the Tollgate sidecar and builds the RFC 6902 JSON Patch that adds it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "controlplane/webhook/webhook_config.h"

namespace tollgate::controlplane::webhook {

// What made the pod eligible.
//   kSelected:       the request reached /mutate, so the MutatingWebhookConfiguration's
//                    namespaceSelector (tollgate.io/inject=enabled) already opted the namespace
//                    in (an AdmissionReview does not carry namespace labels).
//   kPodAnnotation:  the request reached /mutate-annotated, which the chart registers for the
//                    other namespaces: only pods annotated tollgate.io/inject: "true" qualify.
enum class OptIn { kSelected, kPodAnnotation };

struct InjectionPlan {
  bool inject = false;
  // Why: "injected", "opted out by label", "hostNetwork pod", "already injected", ...
  std::string reason;
  // RFC 6902 operations (an array; empty when inject is false).
  nlohmann::json patch = nlohmann::json::array();
  // Shown to the user by kubectl (e.g. a forged status annotation).
  std::vector<std::string> warnings;
};

// Escapes one JSON Pointer reference token (RFC 6901): "~" -> "~0", "/" -> "~1".
std::string escapeJsonPointer(const std::string& token);

// Plans the injection for `pod` (the AdmissionReview's request.object) created in `ns`.
// Skipped (inject=false, a reason, no error): namespaces in config.never_inject_namespaces or
// the control plane's own, hostNetwork pods, label or annotation tollgate.io/inject=disabled
// (annotation "false" too), kPodAnnotation without the opt-in annotation, and pods already
// injected (status annotation, or a container named tollgate-sidecar / tollgate-redirect).
// Errors (INVALID_ARGUMENT, the pod must be denied): no spec or no containers array, a
// malformed field the patch must extend (initContainers / volumes / annotations of the wrong
// type), a volume name the injection needs already taken, invalid port/CIDR annotations.
// Never throws.
absl::StatusOr<InjectionPlan> planInjection(const nlohmann::json& pod, const std::string& ns,
                                            const WebhookConfig& config, OptIn opt_in);

}  // namespace tollgate::controlplane::webhook
