// Strict YAML reading with positioned errors, shared by the daemon configs and the policy loader.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate {

// One problem in a YAML document. `line` and `column` are 1-based; 0 when unknown.
struct YamlError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;

  // "file:line:column: message" (file omitted when empty).
  std::string toString() const;
};

// Collects every error found in one document instead of stopping at the first.
class YamlErrors {
 public:
  explicit YamlErrors(std::string file) : file_(std::move(file)) {}

  // Records `message` at the position of `node` (or of the document start if it has none).
  void add(const YAML::Node& node, std::string message);
  void addAt(int line, int column, std::string message);

  bool empty() const { return errors_.empty(); }
  const std::vector<YamlError>& errors() const { return errors_; }
  const std::string& file() const { return file_; }
  // All errors, one per line.
  std::string toString() const;
  // OK when empty, else INVALID_ARGUMENT whose message is toString().
  absl::Status toStatus() const;

 private:
  std::string file_;
  std::vector<YamlError> errors_;
};

// Parses YAML text. On a syntax error returns INVALID_ARGUMENT "file:line:col: message".
absl::StatusOr<YAML::Node> parseYaml(std::string_view text, std::string_view file);
// Reads and parses a file; NOT_FOUND / INVALID_ARGUMENT with the file name in the message.
absl::StatusOr<YAML::Node> loadYamlFile(const std::string& path);

// Reads the keys of one YAML mapping strictly: every key read is remembered, and finish()
// reports each key that was not read as "unknown key". Type errors are reported to `errors`
// and the getter returns nullopt, so callers can keep validating the rest of the document.
//
// The reader holds references to `node` and `errors`; both must outlive it.
class YamlMap {
 public:
  // `what` names the mapping in messages, e.g. "resource" or "admin".
  YamlMap(const YAML::Node& node, YamlErrors& errors, std::string_view what);

  // True when the node was a mapping (a non-mapping was already reported).
  bool ok() const { return ok_; }

  bool has(std::string_view key) const;
  // The child node (undefined node if absent); marks the key known.
  YAML::Node get(std::string_view key);
  // Scalars. `required` reports a missing key as an error.
  std::optional<std::string> str(std::string_view key, bool required = false);
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max,
                                 bool required = false);
  std::optional<bool> boolean(std::string_view key);
  // A string that must be one of `allowed`.
  std::optional<std::string> oneOf(std::string_view key, std::initializer_list<const char*> allowed,
                                   bool required = false);
  // A duration like "90s", "15m", "2h", "1h30m" in seconds.
  std::optional<int64_t> durationSeconds(std::string_view key, bool required = false);
  // A scalar or a sequence of scalars, as a list.
  std::vector<std::string> strList(std::string_view key, bool required = false);

  // Reports unknown keys. Call once after every get.
  void finish();

  const YAML::Node& node() const { return node_; }
  YamlErrors& errors() { return errors_; }

 private:
  const YAML::Node& node_;
  YamlErrors& errors_;
  std::string what_;
  std::set<std::string, std::less<>> known_;
  bool ok_ = true;
};

// Parses "90s", "15m", "2h", "1h30m", "500ms" (rounded up to whole seconds) or a bare number of
// seconds. Returns nullopt on anything else.
std::optional<int64_t> parseDurationSeconds(std::string_view text);

}  // namespace tollgate
