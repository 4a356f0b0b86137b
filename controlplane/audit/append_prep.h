// The backend-neutral steps of AuditStore::append: making an event storable and chaining it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/audit/audit_store.h"
#include "controlplane/audit/chain.h"
#include "controlplane/audit/record_index.h"

namespace tollgate::controlplane::audit {

// An event ready to be given a sequence: store-assigned fields cleared, strings sanitized, time
// set, with the search columns derived from it.
struct PreparedEvent {
  v1::AuditEvent event;
  IndexColumns columns;
};

// Prepares `in`: clears sequence and hashes, drops fields this version does not know,
// sanitizes every string (adding to result.pans_scrubbed / invalid_utf8), sets a missing time,
// or one no timestamp can hold, to `now_us` (the latter with time_source saying so).
PreparedEvent prepareEvent(const v1::AuditEvent& in, int64_t now_us, AppendResult& result);

// The canonical bytes of a prepared event at `sequence` and its hash chained after `prev`.
struct ChainedRecord {
  std::string bytes;
  Hash hash{};
};
// InvalidArgument (naming input position `index`) when the record is too large.
absl::StatusOr<ChainedRecord> chainRecord(const v1::AuditEvent& event, uint64_t sequence,
                                          const Hash& prev, size_t index);

// Unix microseconds of a clock reading.
int64_t unixMicros(std::chrono::system_clock::time_point t);

}  // namespace tollgate::controlplane::audit
