// The JSON-lines encoding of an audit event (field names as in the proto3 JSON mapping).
#pragma once

#include <string>

#include "tollgate/v1/audit.pb.h"

namespace tollgate::sidecar {

// Appends one JSON object (no newline) for `event` to `out`. Empty strings, zero numbers and
// unset messages are omitted; enums are written by name; the time as RFC 3339 UTC.
void appendEventJson(const v1::AuditEvent& event, std::string& out);

}  // namespace tollgate::sidecar
