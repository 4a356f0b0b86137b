// Startup `options` parsing.
#include "sidecar/postgres/startup_options.h"

#include "absl/status/status.h"

namespace tollgate::sidecar::postgres {
namespace {

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::vector<std::string> splitStartupOptions(std::string_view options) {
  std::vector<std::string> args;
  size_t i = 0;
  while (true) {
    while (i < options.size() && space(options[i])) ++i;
    if (i == options.size()) break;
    std::string arg;
    while (i < options.size() && !space(options[i])) {
      if (options[i] == '\\' && i + 1 < options.size()) ++i;
      arg.push_back(options[i++]);
    }
    args.push_back(std::move(arg));
  }
  return args;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> startupOptionSettings(
    std::string_view options) {
  std::vector<std::pair<std::string, std::string>> settings;
  const std::vector<std::string> args = splitStartupOptions(options);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view setting;
    const std::string& a = args[i];
    if (a == "-c") {
      if (i + 1 == args.size()) return absl::InvalidArgumentError("-c needs name=value");
      setting = args[++i];
    } else if (a.size() > 2 && a.compare(0, 2, "-c") == 0) {
      setting = std::string_view(a).substr(2);
    } else if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      setting = std::string_view(a).substr(2);
    } else {
      return absl::InvalidArgumentError("the server switch \"" + a.substr(0, 2) +
                                        "\" is not allowed; only -c name=value");
    }
    const size_t eq = setting.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError("-c " + std::string(setting.substr(0, 64)) +
                                        " needs name=value");
    }
    std::string name(setting.substr(0, eq));
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    settings.emplace_back(std::move(name), std::string(setting.substr(eq + 1)));
  }
  return settings;
}

}  // namespace tollgate::sidecar::postgres
