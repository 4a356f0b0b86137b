// Where the data path's audit events go: a local JSON-lines file in standalone mode, the
// control-plane stream (with its disk spool) otherwise. Both implement this interface.
#pragma once

#include <functional>
#include <memory>

#include "sidecar/events/deferred_event.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::sidecar {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Takes one event. Thread-safe, never blocks on I/O: implementations queue and write on
  // their own thread. The producer has already removed literals and card data from it.
  virtual void publish(v1::AuditEvent event) = 0;
  // Takes one event to be built later (see DeferredEvent), with the same ordering and
  // guarantees as publish(): events from one thread keep their order across both calls.
  // The default builds it at once and publish()es it; sinks with a writer thread override it
  // to build there.
  virtual void publishDeferred(DeferredEventPtr event) {
    v1::AuditEvent built;
    event->build(built);
    publish(std::move(built));
  }
  // Strict audit (`audit: sync`): `done(true)` once the event is durably stored where audit
  // records live (acknowledged by the control plane), `done(false)` when it cannot be. Called
  // exactly once, on any thread. The default (local sinks, which have no acknowledgement)
  // publishes and confirms at once.
  virtual void publishConfirmed(v1::AuditEvent event, std::function<void(bool)> done) {
    publish(std::move(event));
    done(true);
  }
  // Blocks until every event published before the call is written (or handed to the stream).
  virtual void flush() = 0;
  // False while the sink cannot take more (the control-plane stream's spool is past its hard
  // limit during an outage): sessions then refuse statements rather than run them unrecorded.
  virtual bool accepting() const { return true; }
};
using EventSinkPtr = std::shared_ptr<EventSink>;

}  // namespace tollgate::sidecar
