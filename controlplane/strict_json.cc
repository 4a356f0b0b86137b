// Strict JSON parsing on top of nlohmann's callback parser.
#include "controlplane/strict_json.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tollgate::controlplane {

absl::StatusOr<nlohmann::json> parseStrictJson(std::string_view text, int max_depth) {
  using Json = nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per open object
  bool too_deep = false;
  bool duplicate = false;
  Json::parser_callback_t cb = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        if (depth >= max_depth) too_deep = true;
        keys.emplace_back();
        break;
      case Json::parse_event_t::array_start:
        if (depth >= max_depth) too_deep = true;
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() &&
            !keys.back().insert(parsed.get_ref<const std::string&>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    // Past the depth limit, stop building the tree (the result is rejected anyway).
    return !too_deep;
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  } catch (...) {
    doc = Json(Json::value_t::discarded);
  }
  if (too_deep) {
    return absl::InvalidArgumentError("JSON nests deeper than " + std::to_string(max_depth) +
                                      " levels");
  }
  if (doc.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (duplicate) return absl::InvalidArgumentError("duplicate key in a JSON object");
  return doc;
}

}  // namespace tollgate::controlplane
