// Reusing one AuditEvent for many deferred events.
#include "sidecar/events/deferred_event.h"

namespace tollgate::sidecar {

void clearKeepingBuffers(v1::AuditEvent& e) {
  google::protobuf::Timestamp* time = e.has_time() ? e.release_time() : nullptr;
  v1::Identity* identity = e.has_identity() ? e.release_identity() : nullptr;
  v1::Location* location = e.has_location() ? e.release_location() : nullptr;
  v1::Action* action = e.has_action() ? e.release_action() : nullptr;
  v1::Result* result = e.has_result() ? e.release_result() : nullptr;
  v1::Reason* reason = e.has_reason() ? e.release_reason() : nullptr;
  e.Clear();
  auto keep = [](auto* message, auto set) {
    if (message == nullptr) return;
    message->Clear();
    set(message);
  };
  keep(time, [&](auto* m) { e.set_allocated_time(m); });
  keep(identity, [&](auto* m) { e.set_allocated_identity(m); });
  keep(location, [&](auto* m) { e.set_allocated_location(m); });
  keep(action, [&](auto* m) { e.set_allocated_action(m); });
  keep(result, [&](auto* m) { e.set_allocated_result(m); });
  keep(reason, [&](auto* m) { e.set_allocated_reason(m); });
}

}  // namespace tollgate::sidecar
