// AdmissionReview v1 in, AdmissionReview v1 out: the transport-free core of the webhook.
#pragma once

#include <string>
#include <string_view>

#include "controlplane/webhook/injection.h"
#include "controlplane/webhook/webhook_config.h"

namespace tollgate::controlplane::webhook {

struct AdmissionResult {
  // 200 for every well-formed review (the answer is in the body); 400 for a body that is not
  // an AdmissionReview v1 with a request uid (the API server then applies failurePolicy: Fail).
  int http_status = 200;
  // The AdmissionReview response JSON.
  std::string body;
  // For the log: "patched", "skipped", "ignored", "denied", "malformed".
  std::string decision;
  std::string reason;
  std::string ns;
  std::string pod;  // name, or generateName + "*", or "" when unknown
};

// Answers one review body. Decision table (documented in docs/troubleshooting.md):
//   - not JSON / nesting deeper than 64 / duplicate keys / not apiVersion admission.k8s.io/v1
//     kind AdmissionReview / no request / no string request.uid:
//       HTTP 400, allowed: false, status.code 400, status.message "tollgate webhook: ..."
//       (response.uid echoed when one could be read, else "");
//   - request not a Pod CREATE (resource/kind/operation): allowed: true, no patch, a warning
//     (the webhook registration is wider than it should be);
//   - planInjection() error (no containers, conflicting volume, bad annotation):
//       allowed: false, status.code 400 and the reason (fail closed: a pod meant to be gated
//       never runs ungated);
//   - skipped (opted out, hostNetwork, excluded namespace, already injected): allowed: true,
//     no patch;
//   - injected: allowed: true, patchType JSONPatch, patch = base64(RFC 6902 array).
// The namespace is request.namespace, or the pod's metadata.namespace when that is absent.
// Never throws, never crashes on any input; the caller enforces the body size limit.
AdmissionResult reviewAdmission(std::string_view body, const WebhookConfig& config, OptIn opt_in);

// A 400 AdmissionReview denial for transport-level problems (too large, wrong method...).
std::string admissionError(const std::string& uid, int code, const std::string& message);

// Standard base64 (RFC 4648 section 4, with padding), as the patch field needs.
std::string base64Encode(std::string_view data);

}  // namespace tollgate::controlplane::webhook
