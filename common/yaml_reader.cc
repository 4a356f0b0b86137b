// Strict YAML reading: positioned errors, unknown-key detection, typed scalar getters.
#include "common/yaml_reader.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tollgate {

std::string YamlError::toString() const {
  std::string out;
  if (!file.empty()) absl::StrAppend(&out, file, ":");
  if (line > 0) absl::StrAppend(&out, line, ":", column, ":");
  if (!out.empty()) out += " ";
  out += message;
  return out;
}

void YamlErrors::add(const YAML::Node& node, std::string message) {
  int line = 0, column = 0;
  if (node.IsDefined()) {
    YAML::Mark mark = node.Mark();
    if (mark.line >= 0) {
      line = mark.line + 1;
      column = mark.column + 1;
    }
  }
  addAt(line, column, std::move(message));
}

void YamlErrors::addAt(int line, int column, std::string message) {
  errors_.push_back(YamlError{file_, line, column, std::move(message)});
}

std::string YamlErrors::toString() const {
  std::vector<std::string> lines;
  lines.reserve(errors_.size());
  for (const auto& e : errors_) lines.push_back(e.toString());
  return absl::StrJoin(lines, "\n");
}

absl::Status YamlErrors::toStatus() const {
  if (errors_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(toString());
}

absl::StatusOr<YAML::Node> parseYaml(std::string_view text, std::string_view file) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    YamlError err{std::string(file), e.mark.line >= 0 ? e.mark.line + 1 : 0,
                  e.mark.column >= 0 ? e.mark.column + 1 : 0, "YAML syntax: " + e.msg};
    return absl::InvalidArgumentError(err.toString());
  }
}

absl::StatusOr<YAML::Node> loadYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::stringstream buf;
  buf << in.rdbuf();
  return parseYaml(buf.str(), path);
}

YamlMap::YamlMap(const YAML::Node& node, YamlErrors& errors, std::string_view what)
    : node_(node), errors_(errors), what_(what) {
  if (!node_.IsMap()) {
    errors_.add(node_, absl::StrCat(what_, " must be a mapping"));
    ok_ = false;
  }
}

bool YamlMap::has(std::string_view key) const { return ok_ && node_[std::string(key)]; }

YAML::Node YamlMap::get(std::string_view key) {
  known_.emplace(key);
  if (!ok_) return YAML::Node(YAML::NodeType::Undefined);
  return node_[std::string(key)];
}

std::optional<std::string> YamlMap::str(std::string_view key, bool required) {
  YAML::Node n = get(key);
  if (!n) {
    if (required && ok_)
      errors_.add(node_, absl::StrCat(what_, ": missing required key '", std::string(key), "'"));
    return std::nullopt;
  }
  if (!n.IsScalar()) {
    errors_.add(n, absl::StrCat(what_, ".", std::string(key), " must be a string"));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<int64_t> YamlMap::integer(std::string_view key, int64_t min, int64_t max,
                                        bool required) {
  auto s = str(key, required);
  if (!s) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) {
    errors_.add(get(key),
                absl::StrCat(what_, ".", std::string(key), " must be an integer, got '", *s, "'"));
    return std::nullopt;
  }
  if (v < min || v > max) {
    errors_.add(get(key), absl::StrCat(what_, ".", std::string(key), " must be between ", min,
                                       " and ", max, ", got ", v));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlMap::boolean(std::string_view key) {
  auto s = str(key);
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "yes" || *s == "on") return true;
  if (*s == "false" || *s == "no" || *s == "off") return false;
  errors_.add(get(key),
              absl::StrCat(what_, ".", std::string(key), " must be true or false, got '", *s, "'"));
  return std::nullopt;
}

std::optional<std::string> YamlMap::oneOf(std::string_view key,
                                          std::initializer_list<const char*> allowed,
                                          bool required) {
  auto s = str(key, required);
  if (!s) return std::nullopt;
  for (const char* a : allowed) {
    if (*s == a) return s;
  }
  errors_.add(get(key), absl::StrCat(what_, ".", std::string(key), " must be one of ",
                                     absl::StrJoin(allowed, "|"), ", got '", *s, "'"));
  return std::nullopt;
}

std::optional<int64_t> YamlMap::durationSeconds(std::string_view key, bool required) {
  auto s = str(key, required);
  if (!s) return std::nullopt;
  auto d = parseDurationSeconds(*s);
  if (!d) {
    errors_.add(get(key), absl::StrCat(what_, ".", std::string(key),
                                       " must be a duration like 90s, 15m or 2h, got '", *s, "'"));
  }
  return d;
}

std::vector<std::string> YamlMap::strList(std::string_view key, bool required) {
  std::vector<std::string> out;
  YAML::Node n = get(key);
  if (!n) {
    if (required && ok_)
      errors_.add(node_, absl::StrCat(what_, ": missing required key '", std::string(key), "'"));
    return out;
  }
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence()) {
    errors_.add(
        n, absl::StrCat(what_, ".", std::string(key), " must be a string or a list of strings"));
    return out;
  }
  for (const auto& item : n) {
    if (!item.IsScalar()) {
      errors_.add(item, absl::StrCat(what_, ".", std::string(key), " entries must be strings"));
      continue;
    }
    out.push_back(item.Scalar());
  }
  return out;
}

void YamlMap::finish() {
  if (!ok_) return;
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (known_.count(key) == 0) {
      errors_.add(kv.first, absl::StrCat("unknown key '", std::string(key), "' in ", what_,
                                         " (expected one of: ", absl::StrJoin(known, ", "), ")"));
    }
  }
}

std::optional<int64_t> parseDurationSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total_ms = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    int64_t v = 0;
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i] - '0');
      if (v > (int64_t{1} << 40)) return std::nullopt;
      ++i;
    }
    if (i == start) return std::nullopt;
    std::string_view unit;
    size_t ustart = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    unit = text.substr(ustart, i - ustart);
    int64_t mult;
    if (unit.empty()) {
      if (any || i != text.size()) return std::nullopt;
      mult = 1000;
    } else if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60'000;
    } else if (unit == "h") {
      mult = 3'600'000;
    } else if (unit == "d") {
      mult = 86'400'000;
    } else {
      return std::nullopt;
    }
    total_ms += v * mult;
    any = true;
  }
  return (total_ms + 999) / 1000;
}

}  // namespace tollgate
