// AdmissionReview parsing and responses; every nlohmann exception is caught here.
#include "controlplane/webhook/admission.h"

#include <nlohmann/json.hpp>

#include "controlplane/strict_json.h"

namespace tollgate::controlplane::webhook {
namespace {

using Json = nlohmann::json;

// Pods nest deeply (managedFields, affinity), but not this deep.
constexpr int kMaxDepth = 64;

const Json* member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string stringAt(const Json* obj, const char* key) {
  if (obj == nullptr) return "";
  const Json* v = member(*obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

Json envelope(const std::string& uid) {
  return Json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"response", {{"uid", uid}, {"allowed", true}}}};
}

std::string dump(const Json& j) {
  // Invalid UTF-8 cannot reach here (the parser rejects it), but never throw regardless.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

AdmissionResult malformed(const std::string& uid, const std::string& why) {
  AdmissionResult r;
  r.http_status = 400;
  r.decision = "malformed";
  r.reason = why;
  r.body = admissionError(uid, 400, why);
  return r;
}

AdmissionResult review(std::string_view body, const WebhookConfig& config, OptIn opt_in) {
  auto parsed = parseStrictJson(body, kMaxDepth);
  if (!parsed.ok()) return malformed("", "body: " + std::string(parsed.status().message()));
  const Json& doc = *parsed;
  if (!doc.is_object()) return malformed("", "body is not a JSON object");
  const Json* request = member(doc, "request");
  std::string uid = stringAt(request, "uid");
  if (stringAt(&doc, "apiVersion") != "admission.k8s.io/v1" ||
      stringAt(&doc, "kind") != "AdmissionReview") {
    return malformed(uid, "expected apiVersion admission.k8s.io/v1, kind AdmissionReview");
  }
  if (request == nullptr || !request->is_object()) return malformed("", "review has no request");
  const Json* uid_node = member(*request, "uid");
  if (uid_node == nullptr || !uid_node->is_string() || uid.empty()) {
    return malformed("", "request.uid is missing or not a non-empty string");
  }

  AdmissionResult r;
  Json out = envelope(uid);
  Json& response = out["response"];
  const Json* object = member(*request, "object");
  const Json* metadata = object != nullptr ? member(*object, "metadata") : nullptr;
  r.ns = stringAt(request, "namespace");
  if (r.ns.empty()) r.ns = stringAt(metadata, "namespace");
  r.pod = stringAt(metadata, "name");
  if (r.pod.empty() && !stringAt(metadata, "generateName").empty()) {
    r.pod = stringAt(metadata, "generateName") + "*";
  }
  const Json* kind = member(*request, "kind");
  std::string operation = stringAt(request, "operation");
  if (stringAt(kind, "kind") != "Pod" || !stringAt(kind, "group").empty() ||
      operation != "CREATE") {
    r.decision = "ignored";
    r.reason =
        "not a Pod CREATE (kind " + stringAt(kind, "kind") + ", operation " + operation + ")";
    response["warnings"] = Json::array({"tollgate webhook: " + r.reason + "; nothing injected"});
    r.body = dump(out);
    return r;
  }
  if (object == nullptr) {
    r.decision = "denied";
    r.reason = "request.object is missing";
  } else {
    auto plan = planInjection(*object, r.ns, config, opt_in);
    if (!plan.ok()) {
      r.decision = "denied";
      r.reason = std::string(plan.status().message());
    } else {
      r.reason = plan->reason;
      r.decision = plan->inject ? "patched" : "skipped";
      if (!plan->warnings.empty()) response["warnings"] = plan->warnings;
      if (plan->inject) {
        response["patchType"] = "JSONPatch";
        response["patch"] = base64Encode(dump(plan->patch));
      }
    }
  }
  if (r.decision == "denied") {
    response["allowed"] = false;
    response["status"] = {{"code", 400}, {"message", "tollgate webhook: " + r.reason}};
  }
  r.body = dump(out);
  return r;
}

}  // namespace

std::string admissionError(const std::string& uid, int code, const std::string& message) {
  Json out = envelope(uid);
  out["response"]["allowed"] = false;
  out["response"]["status"] = {{"code", code}, {"message", "tollgate webhook: " + message}};
  return dump(out);
}

std::string base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < data.size()) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<uint8_t>(data[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

AdmissionResult reviewAdmission(std::string_view body, const WebhookConfig& config, OptIn opt_in) {
  try {
    return review(body, config, opt_in);
  } catch (const std::exception& e) {
    // Defensive: a bug must deny (fail closed), not crash the control plane.
    AdmissionResult r = malformed("", std::string("internal error: ") + e.what());
    r.http_status = 500;
    return r;
  }
}

}  // namespace tollgate::controlplane::webhook
