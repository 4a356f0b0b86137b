// `tollgatectl mask`: masks standard input line by line with a policy's masking rules, streaming.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <string>

#include "common/flags.h"
#include "policy/loader.h"
#include "tools/tollgatectl/commands.h"

namespace tollgate::ctl {
namespace {

constexpr const char* kUsage =
    "usage: tollgatectl mask --policy FILE [--resource NAME] < in > out\n";

// A line longer than this is masked in pieces, cut where no card number can straddle the cut.
constexpr size_t kMaxPiece = 1 << 20;
constexpr size_t kReadSize = 64 * 1024;

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Where to cut a piece of `text` (longer than kMaxPiece) so that the cut falls between two
// tokens that are not both parts of a number: the last such place near the limit, else at the
// limit itself (a digit run that long holds no card number: they are at most 19 digits).
size_t cutPoint(const std::string& text) {
  size_t hi = kMaxPiece;
  size_t lo = hi > 4096 ? hi - 4096 : 1;
  for (size_t p = hi; p > lo; --p) {
    char c = text[p];
    bool sep = c == ' ' || c == '\t' || c == '-';
    if (!isAlnum(c) && !sep) return p + 1;
    if (sep && !isDigit(text[p - 1]) && !isDigit(text[p + 1])) return p + 1;
  }
  return hi;
}

bool writeAll(std::string_view s) { return std::fwrite(s.data(), 1, s.size(), stdout) == s.size(); }

bool emit(const policy::Masker& masker, std::string_view piece) {
  auto masked = masker.maskText(piece);
  return writeAll(masked ? std::string_view(*masked) : piece);
}

}  // namespace

int runMask(const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> specs = {
      {"policy", true, false, "policy file"},
      {"resource", true, false, "use this resource's masking rules (default: every rule)"},
      {"help", false, false, "show this help"},
  };
  std::vector<const char*> argv = {"mask"};
  for (const auto& a : args) argv.push_back(a.c_str());
  auto flags = Flags::parse(static_cast<int>(argv.size()), argv.data(), 1, specs);
  if (!flags.ok()) {
    std::cerr << "tollgatectl mask: " << flags.status().message() << "\n" << kUsage;
    return 2;
  }
  if (flags->has("help")) {
    std::cout << kUsage << Flags::usage(specs);
    return 0;
  }
  if (!flags->has("policy") || !flags->positional().empty()) {
    std::cerr << "tollgatectl mask: --policy is required\n" << kUsage;
    return 2;
  }
  policy::CompileOptions opts;
  opts.require_hash_key = false;
  auto loaded = policy::loadPolicyFile(*flags->get("policy"), opts);
  for (const auto& w : loaded.warnings) std::cerr << w << "\n";
  for (const auto& e : loaded.errors) std::cerr << e << "\n";
  if (!loaded.ok()) return 1;
  policy::MaskerPtr masker = loaded.policy->allRulesMasker();
  if (auto r = flags->get("resource")) {
    masker = loaded.policy->masker(*r);
    if (!masker) {
      std::cerr << "tollgatectl mask: unknown resource '" << *r << "'\n";
      return 2;
    }
  }

  std::string pending;
  std::string buf(kReadSize, '\0');
  bool ok = true;
  while (ok) {
    ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::cerr << "tollgatectl mask: read error\n";
      return 1;
    }
    if (n == 0) break;
    pending.append(buf.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; ok && (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      ok = emit(*masker, std::string_view(pending).substr(start, nl + 1 - start));
    }
    pending.erase(0, start);
    while (ok && pending.size() > kMaxPiece + 1) {
      size_t cut = cutPoint(pending);
      ok = emit(*masker, std::string_view(pending).substr(0, cut));
      pending.erase(0, cut);
    }
    ok = ok && std::fflush(stdout) == 0;
  }
  if (ok && !pending.empty()) ok = emit(*masker, pending);
  ok = ok && std::fflush(stdout) == 0;
  if (!ok) {
    std::cerr << "tollgatectl mask: write error\n";
    return 1;
  }
  return 0;
}

}  // namespace tollgate::ctl
