// String sanitizing (UTF-8, PAN scrubbing) by protobuf reflection and the derived search columns of
// an audit record.
#include "controlplane/audit/record_index.h"

#include "common/utf8.h"
#include "controlplane/audit/search.h"
#include "policy/detect/pan.h"
#include "policy/mask/masker.h"
#include "proto/message_strings.h"

namespace tollgate::controlplane::audit {

SanitizeCounts sanitizeStrings(google::protobuf::Message& message) {
  SanitizeCounts counts;
  proto::rewriteStrings(message, [&](std::string_view value) -> std::optional<std::string> {
    const bool bad = !utf8::valid(value);
    const bool pan = policy::containsPanForRecords(value);
    if (!bad && !pan) return std::nullopt;
    std::string out = bad ? utf8::repair(value) : std::string(value);
    counts.utf8 += bad ? 1 : 0;
    if (bad ? policy::containsPanForRecords(out) : pan) {
      out = policy::scrubPansForRecords(out);
      ++counts.pans;
    }
    return out;
  });
  return counts;
}

IndexColumns indexColumns(const v1::AuditEvent& event) {
  IndexColumns c;
  auto us = timestampMicros(event.time());
  c.time_us = us.ok() ? *us : 0;
  c.event_type = event.type();
  c.decision = event.reason().decision();
  c.principal_id = event.identity().principal_id();
  c.subject = event.identity().subject();
  c.resource = event.location().resource();
  c.session_id = event.location().session_id();
  c.source = event.location().source();
  c.source_sequence = static_cast<int64_t>(event.source_sequence());
  c.text = event.action().statement();
  if (!event.action().detail().empty()) {
    if (!c.text.empty()) c.text += "\n";
    c.text += event.action().detail();
  }
  return c;
}

}  // namespace tollgate::controlplane::audit
