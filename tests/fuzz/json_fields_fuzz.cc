// Fuzz target for field-aware JSON masking (json_fields.h).
//
// Invariants (abort() on failure): input nlohmann accepts is never reported as not JSON (short
// of the depth limit); a rewritten document is accepted again by maskJsonFields (and by nlohmann
// when the input was), and a second pass changes nothing: no field rule value is left unmasked,
// no string, number or key holds a card number. quotedKeyRule() reads any bytes safely.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "policy/mask/json_fields.h"
#include "policy/mask/masker.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tollgate::fuzz::check;
using tollgate::policy::JsonRewrite;

const tollgate::policy::Masker& masker() {
  static const tollgate::policy::MaskerPtr kMasker = [] {
    tollgate::policy::MaskAction redact;
    redact.kind = tollgate::policy::MaskAction::Kind::kRedact;
    tollgate::policy::MaskAction pci;
    auto m = tollgate::policy::Masker::compile(
        {{"cvv", "", {"cvv", "cvc*", "*secret*"}, redact}, {"pan", "pan", {}, pci}}, {});
    check(m.ok(), "masker compiles");
    return *m;
  }();
  return *kMasker;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("json_fields_fuzz", in);
  tollgate::policy::MaskerJsonValueMasker hooks(masker());
  std::string out;
  const JsonRewrite r = tollgate::policy::maskJsonFields(in, hooks, &out);
  // The lenient key scan of notification payloads reads any bytes; "cvv" quoted before a ':'
  // at the start is always found.
  (void)tollgate::policy::quotedKeyRule(masker(), in, true);
  (void)tollgate::policy::quotedKeyRule(masker(), in, false);
  check(tollgate::policy::quotedKeyRule(masker(), "\"cvv\" :" + std::string(in), false) != nullptr,
        "a leading quoted key is found");
  const bool nlohmann_ok = nlohmann::json::accept(in);
  // nlohmann also skips a leading UTF-8 BOM and stops at a NUL byte; json/jsonb output has
  // neither.
  const bool comparable = size < tollgate::policy::kMaxJsonDepth &&
                          !in.starts_with("\xEF\xBB\xBF") &&
                          in.find('\0') == std::string_view::npos;
  if (nlohmann_ok && comparable) {
    check(r != JsonRewrite::kNotJson, "valid JSON is recognised");
  }
  if (r != JsonRewrite::kRewritten) return 0;
  check(out != in, "a rewrite changes something");
  if (nlohmann_ok && comparable) check(nlohmann::json::accept(out), "rewritten JSON stays valid");
  tollgate::policy::MaskerJsonValueMasker again(masker());
  std::string out2;
  const JsonRewrite r2 = tollgate::policy::maskJsonFields(out, again, &out2);
  check(r2 == JsonRewrite::kUnchanged, "a second pass finds nothing to mask");
  return 0;
}
