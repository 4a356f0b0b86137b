// Structured logging implementation: one mutex around stderr writes, atomics for settings.
#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

#include "common/json_writer.h"

namespace tollgate::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
std::mutex g_mu;
std::shared_ptr<const std::function<std::string(std::string_view)>> g_scrubber;

std::shared_ptr<const std::function<std::string(std::string_view)>> scrubber() {
  std::lock_guard lock(g_mu);
  return g_scrubber;
}

const char* levelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool needsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

void setLevel(Level level) { g_level.store(level); }
void setFormat(Format format) { g_format.store(format); }
void setScrubber(std::function<std::string(std::string_view)> fn) {
  std::lock_guard lock(g_mu);
  g_scrubber =
      fn ? std::make_shared<const std::function<std::string(std::string_view)>>(std::move(fn))
         : nullptr;
}

bool parseLevel(std::string_view name, Level* out) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {{"debug", Level::kDebug},
                                                                  {"info", Level::kInfo},
                                                                  {"warn", Level::kWarn},
                                                                  {"error", Level::kError}};
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool parseFormat(std::string_view name, Format* out) {
  if (name == "text")
    *out = Format::kText;
  else if (name == "json")
    *out = Format::kJson;
  else
    return false;
  return true;
}

bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

void appendJsonString(std::string& out, std::string_view s) {
  json::Writer writer(out);
  writer.string(s);
}

std::string nowRfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  auto scrub = scrubber();
  auto clean = [&](std::string_view s) { return scrub ? (*scrub)(s) : std::string(s); };
  std::string line;
  line.reserve(128);
  if (g_format.load() == Format::kJson) {
    line += "{\"ts\":\"" + nowRfc3339() + "\",\"level\":\"" + levelName(level) + "\",\"msg\":";
    appendJsonString(line, clean(message));
    for (const auto& [k, v] : fields) {
      line.push_back(',');
      appendJsonString(line, k);
      line.push_back(':');
      appendJsonString(line, clean(v));
    }
    line += "}\n";
  } else {
    line += nowRfc3339();
    line += ' ';
    std::string lvl = levelName(level);
    for (auto& c : lvl) c = static_cast<char>(c - 32);
    lvl.resize(5, ' ');
    line += lvl;
    line += ' ';
    line += clean(message);
    for (const auto& [k, v] : fields) {
      line.push_back(' ');
      line += k;
      line.push_back('=');
      std::string value = clean(v);
      if (needsQuotes(value))
        appendJsonString(line, value);
      else
        line += value;
    }
    line.push_back('\n');
  }
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tollgate::log
