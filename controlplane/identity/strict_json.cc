// Strict JSON objects for identity documents (on the shared strict parser).
#include "controlplane/identity/strict_json.h"

#include <string>

#include "absl/status/status.h"
#include "controlplane/strict_json.h"

namespace tollgate::controlplane::identity {

absl::StatusOr<nlohmann::json> parseStrictJsonObject(std::string_view text, std::string_view what) {
  auto doc = parseStrictJson(text, kMaxJsonDepth);
  std::string w(what);
  if (!doc.ok()) return absl::InvalidArgumentError(w + ": " + std::string(doc.status().message()));
  if (!doc->is_object()) return absl::InvalidArgumentError(w + ": not a JSON object");
  return doc;
}

}  // namespace tollgate::controlplane::identity
