// Loads policy YAML: strict validation with every error positioned, then compilation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"
#include "common/yaml_reader.h"
#include "policy/compiled_policy.h"
#include "policy/model.h"

namespace tollgate::policy {

// The outcome of loading one policy file.
struct PolicyLoadResult {
  // The compiled policy; nullptr when `errors` is not empty.
  CompiledPolicyPtr policy;
  // Every problem found, each "file:line:column: message", in document order.
  std::vector<std::string> errors;
  // Non-fatal findings (e.g. "tls: disable", no PAN masking), same format.
  std::vector<std::string> warnings;

  bool ok() const { return policy != nullptr; }
  // OK, or INVALID_ARGUMENT with the errors one per line.
  absl::Status status() const;
};

// Validates a parsed YAML document into the typed model. Every problem is added to `errors`
// (all of them, not only the first); the returned document is meaningful only when no error
// was added. Relative paths in the policy are resolved against `base_dir` (when not empty).
// Never throws.
PolicyDocument parsePolicyDocument(const YAML::Node& root, YamlErrors& errors,
                                   std::vector<std::string>& warnings, const std::string& base_dir);

// Parses, validates and compiles policy text. `file` names the text in messages and gives the
// base directory for relative paths. Never throws.
PolicyLoadResult loadPolicyText(std::string_view text, std::string_view file,
                                const CompileOptions& options = {});
// Same for a file on disk (a missing file is an error in `errors`).
PolicyLoadResult loadPolicyFile(const std::string& path, const CompileOptions& options = {});

}  // namespace tollgate::policy
