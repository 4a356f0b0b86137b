// Settings and start-up steps both daemons share: the log and admin config sections, build info.
#pragma once

#include <string>
#include <string_view>

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
// Applies --log-level / --log-format style overrides; returns an error message or "".
std::string overrideLog(LogConfig& cfg, const std::string* level, const std::string* format);

void applyLogConfig(const LogConfig& cfg);

// Registers `tollgate_build_info{component,version}` = 1 and `process_start_time_seconds`.
void registerBuildInfo(prometheus::Registry& registry, std::string_view component);

// Splits "host:port" / "[v6]:port". Returns false when malformed or the port is out of range.
bool splitHostPort(std::string_view text, std::string* host, int* port);

}  // namespace tollgate
