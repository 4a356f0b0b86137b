// Helpers for the webhook tests: AdmissionReview builders and a patch decoder/applier.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "controlplane/webhook/admission.h"

namespace tollgate::controlplane::webhook::testing {

using Json = nlohmann::json;

// An AdmissionReview v1 for a Pod CREATE in `ns` (request.namespace set unless empty).
inline Json podReview(const Json& pod, const std::string& ns, const std::string& uid = "uid-1") {
  Json request{{"uid", uid},
               {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
               {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
               {"operation", "CREATE"},
               {"userInfo", {{"username", "system:serviceaccount:kube-system:job-controller"}}},
               {"object", pod},
               {"dryRun", false}};
  if (!ns.empty()) request["namespace"] = ns;
  return Json{
      {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}};
}

// A Pod as the Job controller creates it: generateName, labels, one init container, a volume.
inline Json jobPod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "generateName": "nightly-report-28391-",
      "labels": {"batch.kubernetes.io/job-name": "nightly-report-28391",
                 "job-name": "nightly-report-28391"},
      "annotations": {"batch.kubernetes.io/job-tracking": ""},
      "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                           "name": "nightly-report-28391", "uid": "8d1c", "controller": true}]
    },
    "spec": {
      "restartPolicy": "Never",
      "serviceAccountName": "nightly-report",
      "initContainers": [{"name": "migrate-check", "image": "registry.example/tools:1",
                          "command": ["psql", "-c", "select 1"]}],
      "containers": [{"name": "report", "image": "registry.example/report:3",
                      "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
      "volumes": [{"name": "out", "emptyDir": {}}]
    }
  })");
}

// A bare pod: no annotations, no labels, no volumes, no init containers.
inline Json barePod() {
  return Json::parse(R"({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "bare"},
    "spec": {"containers": [{"name": "main", "image": "busybox"}]}})");
}

inline std::string base64Decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0;
  unsigned buffer = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) break;  // '=' padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// The decoded review response for `review`.
struct Outcome {
  AdmissionResult result;
  Json response;  // .response of the AdmissionReview
  Json patch;     // decoded patch array, or null when none
};

inline Outcome runReview(const Json& review, const WebhookConfig& config,
                         OptIn opt_in = OptIn::kSelected) {
  Outcome o;
  o.result = reviewAdmission(review.dump(), config, opt_in);
  Json body = Json::parse(o.result.body);
  o.response = body["response"];
  if (o.response.contains("patch")) {
    o.patch = Json::parse(base64Decode(o.response["patch"].get<std::string>()));
  }
  return o;
}

}  // namespace tollgate::controlplane::webhook::testing
