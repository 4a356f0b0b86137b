// Pending-unit FIFO.
#include "sidecar/postgres/pipeline.h"

namespace tollgate::sidecar::postgres {

PendingUnit& Pipeline::push(PendingUnit::Kind kind) {
  units_.emplace_back();
  units_.back().kind = kind;
  return units_.back();
}

}  // namespace tollgate::sidecar::postgres
