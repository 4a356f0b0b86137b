// Fuzz target for the admission webhook core: any body gets a well-formed AdmissionReview
// answer; an injected pod's patch applies (RFC 6902) and reviewing the result injects nothing.
// The first byte picks the opt-in path and the injection mode; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/webhook/admission.h"

using namespace tollgate::controlplane::webhook;
using Json = nlohmann::json;

namespace {

std::string base64Decode(const std::string& in) {
  std::string out;
  int bits = 0;
  unsigned buffer = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) break;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  OptIn opt_in = (data[0] & 1) != 0 ? OptIn::kPodAnnotation : OptIn::kSelected;
  WebhookConfig config;
  config.mode = (data[0] & 2) != 0 ? InjectionMode::kClassic : InjectionMode::kNative;
  AdmissionResult r = reviewAdmission(body, config, opt_in);
  Json out = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!out.is_object() || out.value("kind", "") != "AdmissionReview") std::abort();
  const Json& response = out["response"];
  if (!response.is_object() || !response["allowed"].is_boolean()) std::abort();
  if ((r.http_status == 200) != (r.decision != "malformed")) std::abort();
  if (!response["allowed"].get<bool>() && !response["status"]["message"].is_string()) std::abort();
  if (r.decision != "patched") {
    if (response.contains("patch")) std::abort();
    return 0;
  }
  // Patched: the patch applies to the object it was computed for, and is not applied twice.
  Json review = Json::parse(body, nullptr, false);
  try {
    Json pod = review["request"]["object"].patch(
        Json::parse(base64Decode(response["patch"].get<std::string>())));
    review["request"]["object"] = pod;
  } catch (const std::exception&) {
    std::abort();
  }
  AdmissionResult again = reviewAdmission(review.dump(), config, opt_in);
  if (again.decision != "skipped") std::abort();
  return 0;
}
