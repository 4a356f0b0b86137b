// What the audit store derives from an event before storing it: PAN scrubbing and the
// searchable columns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "google/protobuf/message.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::controlplane::audit {

// What sanitizeStrings changed.
struct SanitizeCounts {
  size_t pans = 0;  // string values in which card numbers were masked
  size_t utf8 = 0;  // string values with invalid UTF-8 (each bad byte became U+FFFD)
};

// Makes every string field of `message` (recursively, repeated fields included) storable:
// invalid UTF-8 is repaired (proto3 parsers refuse it, so the record would not decode) and
// any value containing a card number, also one glued to other text
// (policy::containsPanForRecords) is rewritten with policy::scrubPansForRecords, so no
// detectable PAN remains.
SanitizeCounts sanitizeStrings(google::protobuf::Message& message);

// The indexed columns of one record, all derived from the event so verify can recompute them.
struct IndexColumns {
  int64_t time_us = 0;
  int64_t event_type = 0;
  int64_t decision = 0;
  std::string principal_id;
  std::string subject;
  std::string resource;
  std::string session_id;
  std::string source;
  int64_t source_sequence = 0;  // 0: not de-duplicated
  // Normalised statement and detail, joined by "\n" when both are present.
  std::string text;

  bool operator==(const IndexColumns&) const = default;
};
// Derives the columns; an out-of-range event time becomes 0.
IndexColumns indexColumns(const v1::AuditEvent& event);

}  // namespace tollgate::controlplane::audit
