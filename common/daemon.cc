// Shared daemon start-up helpers.
#include "common/daemon.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <chrono>

#include "prometheus/gauge.h"

namespace tollgate {

void readLogConfig(YamlMap& parent, LogConfig& out) {
  YAML::Node n = parent.get("log");
  if (!n) return;
  YamlMap m(n, parent.errors(), "log");
  if (auto level = m.oneOf("level", {"debug", "info", "warn", "error"})) {
    log::parseLevel(*level, &out.level);
  }
  if (auto format = m.oneOf("format", {"text", "json"})) log::parseFormat(*format, &out.format);
  m.finish();
}

void readAdminConfig(YamlMap& parent, AdminConfig& out) {
  YAML::Node n = parent.get("admin");
  if (!n) return;
  YamlMap m(n, parent.errors(), "admin");
  if (auto a = m.str("address")) out.address = *a;
  if (auto p = m.integer("port", 0, 65535)) out.port = static_cast<int>(*p);
  m.finish();
}

std::vector<FlagSpec> daemonFlags(std::initializer_list<FlagSpec> extra) {
  std::vector<FlagSpec> specs = {
      {"config", true, false, "YAML config file"},
      {"admin-address", true, false, "admin HTTP address (default 127.0.0.1)"},
      {"admin-port", true, false, "admin HTTP port (0 = any free port)"},
      {"log-level", true, false, "debug|info|warn|error"},
      {"log-format", true, false, "text|json"},
      {"version", false, false, "print the version and exit"},
      {"help", false, false, "show this help"},
  };
  specs.insert(specs.end(), extra);
  return specs;
}

absl::StatusOr<Flags> parseDaemonCommandLine(
    std::string_view program, int argc, const char* const* argv, const std::vector<FlagSpec>& specs,
    const std::function<void(const YAML::Node&, YamlErrors&)>& read_yaml) {
  auto flags = Flags::parse(argc, argv, 1, specs);
  if (!flags.ok()) return flags.status();
  if (flags->has("help")) {
    return absl::CancelledError("usage: " + std::string(program) + " [flags]\n" +
                                Flags::usage(specs));
  }
  if (flags->has("version")) return absl::CancelledError(std::string(kVersion));
  if (!flags->positional().empty()) {
    return absl::InvalidArgumentError("unexpected argument '" + flags->positional().front() + "'");
  }
  if (auto file = flags->get("config")) {
    auto root = loadYamlFile(*file);
    if (!root.ok()) return root.status();
    YamlErrors errors(*file);
    read_yaml(*root, errors);
    if (!errors.empty()) return errors.toStatus();
  }
  return flags;
}

absl::Status applyCommonFlags(const Flags& flags, LogConfig& log_cfg, AdminConfig& admin) {
  if (auto a = flags.get("admin-address")) admin.address = *a;
  if (auto p = flags.get("admin-port")) {
    auto v = parseInt(*p, 0, 65535);
    if (!v)
      return absl::InvalidArgumentError("--admin-port must be a port number, got '" + *p + "'");
    admin.port = static_cast<int>(*v);
  }
  if (auto l = flags.get("log-level"); l && !log::parseLevel(*l, &log_cfg.level)) {
    return absl::InvalidArgumentError("--log-level must be debug|info|warn|error, got '" + *l +
                                      "'");
  }
  if (auto f = flags.get("log-format"); f && !log::parseFormat(*f, &log_cfg.format)) {
    return absl::InvalidArgumentError("--log-format must be text|json, got '" + *f + "'");
  }
  return absl::OkStatus();
}

std::optional<int64_t> parseInt(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

void applyLogConfig(const LogConfig& cfg) {
  log::setLevel(cfg.level);
  log::setFormat(cfg.format);
}

void registerBuildInfo(prometheus::Registry& registry, std::string_view component) {
  prometheus::BuildGauge()
      .Name("tollgate_build_info")
      .Help("Build information; always 1")
      .Register(registry)
      .Add({{"component", std::string(component)}, {"version", std::string(kVersion)}})
      .Set(1);
  auto now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since unix epoch in seconds")
      .Register(registry)
      .Add({})
      .Set(now);
}

bool splitHostPort(std::string_view text, std::string* host, int* port) {
  size_t colon;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    *host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    *host = std::string(text.substr(0, colon));
  }
  std::string_view p = text.substr(colon + 1);
  int v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v < 0 || v > 65535) return false;
  *port = v;
  return true;
}

bool isLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  const std::string text(host);  // inet_pton needs a terminated string
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace tollgate
