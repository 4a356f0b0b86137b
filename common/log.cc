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

#include "common/utf8.h"

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

namespace {

// Whether none of the 8 bytes at `p` is below 0x20, '"', '\\' or 0x80 and above (the
// "has a zero byte" bit trick, on the bytes xor'ed with each value looked for).
bool plainJsonBytes(const char* p) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  auto hasZero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  // Below 0x20 (no high bit): subtracting 0x20 borrows into the high bit.
  const uint64_t control = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | control | hasZero(w ^ (kOnes * '"')) | hasZero(w ^ (kOnes * '\\'))) == 0;
}

}  // namespace

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  // Copy runs that need no escaping in one go; most values have none. Bytes that are not
  // well-formed UTF-8 (a client's startup parameters, identifiers) become U+FFFD: a JSON line
  // must stay readable.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    // Eight bytes at a time while none needs a look (a control character, '"', '\\', or a
    // byte of a multi-byte sequence): audit events write every statement's text.
    while (i + 8 <= s.size() && plainJsonBytes(s.data() + i)) i += 8;
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (const size_t len = utf8::sequenceLength(s, i); len != 0) {
        i += len - 1;
        continue;
      }
      out.append(s.data() + run, i - run);
      run = i + 1;
      out += "\\ufffd";
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
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
