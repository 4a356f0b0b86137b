// Shared pieces of the policy loader's sections (not a public interface).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/yaml_reader.h"
#include "policy/model.h"

namespace tollgate::policy::loader {

// A reference to a resource by name, checked once every resource is known.
struct ResourceRef {
  std::string name;
  SourcePos pos;
  std::string what;  // e.g. "access rule 'ci-read'"
};

struct Context {
  YamlErrors& errors;
  std::vector<std::string>& warnings;
  std::string base_dir;
  std::vector<ResourceRef> refs;

  void warn(const YAML::Node& node, std::string_view message);
};

SourcePos posOf(const YAML::Node& node);
// Reports and returns false unless `name` is 1-100 of [A-Za-z0-9._-], starting alphanumeric.
bool checkName(Context& ctx, const YAML::Node& node, const std::string& name,
               std::string_view what);
// Makes a relative path absolute against the policy file's directory.
std::string resolvePath(const Context& ctx, const std::string& path);
// Calls `fn(item, index)` for each entry of a sequence; reports a non-sequence. An absent
// node is fine (nothing to do).
template <typename Fn>
void forEachItem(Context& ctx, const YAML::Node& node, std::string_view what, Fn fn) {
  if (!node) return;
  if (!node.IsSequence()) {
    ctx.errors.add(node, std::string(what) + " must be a list");
    return;
  }
  size_t i = 0;
  for (const auto& item : node) fn(item, i++);
}
// Reads a `resources` list (names or "*") and records the references; default ["*"].
std::vector<std::string> readResourceList(Context& ctx, YamlMap& map, bool required,
                                          const std::string& what);

// An approvers mapping {group, count, timeout}.
Approvers parseApprovers(Context& ctx, const YAML::Node& node, std::string_view what);
// A subjects list; each entry a mapping of serviceAccount / namespace / group / subject.
std::vector<SubjectSpec> parseSubjects(Context& ctx, const YAML::Node& node, std::string_view what);

// Sections.
void parseResources(Context& ctx, const YAML::Node& node, PolicyDocument& doc);
void parseAccess(Context& ctx, const YAML::Node& node, PolicyDocument& doc);
void parseGuardrails(Context& ctx, const YAML::Node& node, PolicyDocument& doc);
void parseMasking(Context& ctx, const YAML::Node& node, PolicyDocument& doc);

}  // namespace tollgate::policy::loader
