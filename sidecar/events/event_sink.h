// Where the data path's audit events go: a local JSON-lines file in standalone mode, the
// control-plane stream (with its disk spool) otherwise. Both implement this interface.
#pragma once

#include <memory>

#include "tollgate/v1/audit.pb.h"

namespace tollgate::sidecar {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Takes one event. Thread-safe, never blocks on I/O: implementations queue and write on
  // their own thread. The producer has already removed literals and card data from it.
  virtual void publish(v1::AuditEvent event) = 0;
  // Blocks until every event published before the call is written (or handed to the stream).
  virtual void flush() = 0;
};
using EventSinkPtr = std::shared_ptr<EventSink>;

}  // namespace tollgate::sidecar
