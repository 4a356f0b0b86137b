// Command-line flag parsing shared by the daemons and the CLI: --name value, --name=value, -h.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tollgate {

// Describes one accepted flag.
struct FlagSpec {
  std::string name;  // without the leading dashes
  bool takes_value = true;
  bool repeatable = false;
  std::string help;  // one line
};

// The parsed command line: flag values (last wins unless repeatable) and positional arguments.
class Flags {
 public:
  // Parses argv[first..argc). Unknown flags, missing values and repeated non-repeatable flags
  // are INVALID_ARGUMENT errors naming the flag. "--" ends flag parsing.
  static absl::StatusOr<Flags> parse(int argc, const char* const* argv, int first,
                                     const std::vector<FlagSpec>& specs);

  bool has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The value of a flag, or nullopt. For boolean flags the value is "true".
  std::optional<std::string> get(std::string_view name) const;
  std::string getOr(std::string_view name, std::string fallback) const;
  std::vector<std::string> all(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // "  --name VALUE   help" lines for a usage message.
  static std::string usage(const std::vector<FlagSpec>& specs);

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positional_;
};

}  // namespace tollgate
