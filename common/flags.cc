// Command-line flag parsing.
#include "common/flags.h"

#include "absl/strings/str_cat.h"

namespace tollgate {

absl::StatusOr<Flags> Flags::parse(int argc, const char* const* argv, int first,
                                   const std::vector<FlagSpec>& specs) {
  Flags flags;
  bool flags_done = false;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      flags.positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h") arg = "--help";
    std::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      inline_value = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (s.name == body) spec = &s;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '--", std::string(body), "'"));
    }
    std::string value = "true";
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag '--", std::string(body), "' needs a value"));
      }
    } else if (inline_value) {
      value = *inline_value;
    }
    auto& slot = flags.values_[spec->name];
    if (!slot.empty() && !spec->repeatable) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag '--", std::string(body), "' given twice"));
    }
    slot.push_back(std::move(value));
  }
  return flags;
}

std::optional<std::string> Flags::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Flags::getOr(std::string_view name, std::string fallback) const {
  auto v = get(name);
  return v ? *v : std::move(fallback);
}

std::vector<std::string> Flags::all(std::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Flags::usage(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = absl::StrCat("  --", s.name, s.takes_value ? " VALUE" : "");
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", s.help, "\n");
  }
  return out;
}

}  // namespace tollgate
