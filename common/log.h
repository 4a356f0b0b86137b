// Structured logging for both daemons and the CLI: leveled, text or JSON lines, thread-safe.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tollgate::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

// One key/value pair attached to a log line. Values are rendered as strings.
using Field = std::pair<std::string_view, std::string>;

// Process-wide settings. Thread-safe; may be changed at any time.
void setLevel(Level level);
void setFormat(Format format);
// Installs a function every message and field value passes through before it is written, so
// that no card number can reach a log line even by mistake (binaries install the PAN masker).
// Must be thread-safe. Passing nullptr removes it.
void setScrubber(std::function<std::string(std::string_view)> scrubber);

// Parses "debug|info|warn|error" and "text|json". Return false on unknown names.
bool parseLevel(std::string_view name, Level* out);
bool parseFormat(std::string_view name, Format* out);

bool enabled(Level level);

// Writes one line to stderr:
//   text: 2026-11-25T17:40:00.123Z INFO  message key=value key2="value with space"
//   json: {"ts":"2026-11-25T17:40:00.123Z","level":"info","msg":"message","key":"value"}
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::kDebug)) write(Level::kDebug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kWarn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kError, m, f);
}

// Appends `s` to `out` as a JSON string literal (with quotes), escaping as RFC 8259 requires.
void appendJsonString(std::string& out, std::string_view s);

// RFC 3339 UTC timestamp with milliseconds for "now".
std::string nowRfc3339();

}  // namespace tollgate::log
