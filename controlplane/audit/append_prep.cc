// Event preparation and chaining shared by the SQLite and PostgreSQL audit stores.
#include "controlplane/audit/append_prep.h"

#include "controlplane/audit/search.h"

namespace tollgate::controlplane::audit {

PreparedEvent prepareEvent(const v1::AuditEvent& in, int64_t now_us, AppendResult& result) {
  PreparedEvent out{in, {}};
  v1::AuditEvent& ev = out.event;
  ev.clear_sequence();
  ev.clear_prev_hash();
  ev.clear_record_hash();
  // Fields this version does not know are not kept (docs/audit-format.md): nothing scrubs
  // them, and a card number could hide there.
  ev.DiscardUnknownFields();
  const SanitizeCounts fixed = sanitizeStrings(ev);
  result.pans_scrubbed += fixed.pans;
  result.invalid_utf8 += fixed.utf8;
  // A missing time, or one no timestamp can hold (a producer's clock or bug), is the store's
  // clock's: the event is kept either way, and says so for an invalid one (time_source).
  const bool invalid_time = ev.has_time() && !timestampMicros(ev.time()).ok();
  if (!ev.has_time() || invalid_time) {
    ev.mutable_time()->set_seconds(now_us / 1000000);
    ev.mutable_time()->set_nanos(static_cast<int32_t>(now_us % 1000000) * 1000);
  }
  if (invalid_time) ev.set_time_source("store: the producer's time was invalid");
  out.columns = indexColumns(ev);
  return out;
}

absl::StatusOr<ChainedRecord> chainRecord(const v1::AuditEvent& event, uint64_t sequence,
                                          const Hash& prev, size_t index) {
  auto bytes = encodeRecord(event, sequence);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError("audit event " + std::to_string(index) + ": " +
                                      std::string(bytes.status().message()));
  }
  ChainedRecord out;
  out.hash = chainHash(prev, *bytes);
  out.bytes = std::move(*bytes);
  return out;
}

int64_t unixMicros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace tollgate::controlplane::audit
