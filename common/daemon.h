// Settings and start-up steps both daemons share: the log and admin config sections, build info.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/yaml_reader.h"
#include "prometheus/registry.h"

namespace tollgate {

inline constexpr std::string_view kVersion = "0.1.0";

struct LogConfig {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kText;
};

struct AdminConfig {
  std::string address = "127.0.0.1";
  int port = 0;
};

// Reads an optional `log: {level, format}` section of `parent`.
void readLogConfig(YamlMap& parent, LogConfig& out);
// Reads an optional `admin: {address, port}` section of `parent`.
void readAdminConfig(YamlMap& parent, AdminConfig& out);
// Flags every daemon accepts (--config, --admin-address, --admin-port, --log-level,
// --log-format, --version, --help) followed by the daemon's own `extra` flags.
std::vector<FlagSpec> daemonFlags(std::initializer_list<FlagSpec> extra);
// The shared first half of a daemon's config loading: parses argv against `specs` (which
// should come from daemonFlags()), answers --help / --version with CANCELLED carrying the
// text to print, refuses positional arguments, and, when --config FILE is given, parses the
// file and hands its root to `read_yaml`, failing with every error it reported.
absl::StatusOr<Flags> parseDaemonCommandLine(
    std::string_view program, int argc, const char* const* argv, const std::vector<FlagSpec>& specs,
    const std::function<void(const YAML::Node&, YamlErrors&)>& read_yaml);

// Applies the admin and log flags of daemonFlags() over values read from the config.
absl::Status applyCommonFlags(const Flags& flags, LogConfig& log_cfg, AdminConfig& admin);
// Parses a whole decimal integer in [min, max]; nullopt otherwise.
std::optional<int64_t> parseInt(std::string_view text, int64_t min, int64_t max);

void applyLogConfig(const LogConfig& cfg);

// Registers `tollgate_build_info{component,version}` = 1 and `process_start_time_seconds`.
void registerBuildInfo(prometheus::Registry& registry, std::string_view component);

// Splits "host:port" / "[v6]:port". Returns false when malformed or the port is out of range.
bool splitHostPort(std::string_view text, std::string* host, int* port);

// Whether connecting to `host` stays on this machine, so plaintext (and a bearer token in it)
// never leaves it: an IPv4 address in 127.0.0.0/8, the IPv6 address ::1 (brackets allowed), or
// the name "localhost". Any other name is not loopback, whatever it looks like
// ("127.example.com" is a DNS name).
bool isLoopbackHost(std::string_view host);

}  // namespace tollgate
