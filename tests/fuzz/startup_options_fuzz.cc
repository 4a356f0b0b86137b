// Fuzz target for the `options` startup parameter (sidecar/postgres/startup_options.h), client
// bytes. Invariants (abort() on failure): split arguments are non-empty; every setting read has
// a non-empty name without '-'; re-joining the arguments with escapes splits back the same.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sidecar/postgres/startup_options.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tollgate::fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("startup_options_fuzz", in);
  using namespace tollgate::sidecar::postgres;
  const auto args = splitStartupOptions(in);
  std::string joined;
  for (const auto& a : args) {
    check(!a.empty(), "arguments are non-empty");
    if (!joined.empty()) joined.push_back(' ');
    for (char c : a) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '\\') {
        joined.push_back('\\');
      }
      joined.push_back(c);
    }
  }
  check(splitStartupOptions(joined) == args, "escaped arguments split back the same");
  if (auto settings = startupOptionSettings(in); settings.ok()) {
    for (const auto& [name, value] : *settings) {
      check(!name.empty() && name.find('-') == std::string::npos, "setting names");
    }
  }
  return 0;
}
