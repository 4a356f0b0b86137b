// An audit event captured on the data path and built into a v1::AuditEvent later, on the
// sink's own thread.
#pragma once

#include <cstddef>
#include <memory>

#include "tollgate/v1/audit.pb.h"

namespace tollgate::sidecar {

// A statement happens on a worker loop; its audit record is only needed when the sink writes
// it. A producer captures what it knows cheaply (shared pointers to session data and statement
// facts, a few numbers) and the sink calls build() where it likes, typically on its writer
// thread into a message it reuses, so the data path pays neither the ~20 string copies nor
// the allocations and cross-thread frees of a fresh protobuf message per statement.
//
// build() is called exactly once, from any thread, after publishing; the object therefore
// owns or shares (immutably) everything it reads. It must produce the same event it would
// have produced at publish time: capture times and counters when the event happens.
class DeferredEvent {
 public:
  virtual ~DeferredEvent() = default;
  // Fills `event`. On entry it holds no values, but a sink that reuses one message may leave
  // its sub-messages present and empty (has_identity() etc. true) to keep their memory:
  // build() sets every sub-message the event has and clear_x()s the ones it must not have
  // (or replaces the whole message, as ReadyEvent does). The sink sets source_sequence.
  virtual void build(v1::AuditEvent& event) = 0;
  // A lower bound of the bytes the built event serializes to, for a sink that bounds what it
  // holds before building (the control-plane client's backlog limit, which the writer then
  // checks with the real sizes: an estimate above them would make the two disagree).
  virtual size_t sizeHint() const = 0;
};
using DeferredEventPtr = std::unique_ptr<DeferredEvent>;

// The trivial deferred event: one that was built already.
class ReadyEvent final : public DeferredEvent {
 public:
  explicit ReadyEvent(v1::AuditEvent event)
      : event_(std::move(event)), size_(event_.ByteSizeLong()) {}
  void build(v1::AuditEvent& event) override { event.Swap(&event_); }
  size_t sizeHint() const override { return size_; }

 private:
  v1::AuditEvent event_;
  size_t size_;
};

// Empties `event` for reuse by a sink that builds events into one message. AuditEvent::Clear()
// deletes the sub-messages (proto3 without an arena), so every string would be allocated
// again; this clears them in place, keeping their buffers. They stay present, which
// DeferredEvent::build() is told about.
void clearKeepingBuffers(v1::AuditEvent& event);

}  // namespace tollgate::sidecar
