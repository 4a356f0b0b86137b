// Strict JSON object parsing on top of nlohmann's callback parser.
#include "controlplane/identity/strict_json.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tollgate::controlplane::identity {

absl::StatusOr<nlohmann::json> parseStrictJsonObject(std::string_view text, std::string_view what) {
  using Json = nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per open object
  bool too_deep = false;
  bool duplicate = false;
  Json::parser_callback_t cb = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        if (depth >= kMaxJsonDepth) too_deep = true;
        keys.emplace_back();
        break;
      case Json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) too_deep = true;
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
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  } catch (...) {
    doc = Json(Json::value_t::discarded);
  }
  std::string w(what);
  if (too_deep) {
    return absl::InvalidArgumentError(w + ": JSON nests deeper than " +
                                      std::to_string(kMaxJsonDepth) + " levels");
  }
  if (doc.is_discarded()) return absl::InvalidArgumentError(w + ": not valid JSON");
  if (duplicate) return absl::InvalidArgumentError(w + ": duplicate key in a JSON object");
  if (!doc.is_object()) return absl::InvalidArgumentError(w + ": not a JSON object");
  return doc;
}

}  // namespace tollgate::controlplane::identity
