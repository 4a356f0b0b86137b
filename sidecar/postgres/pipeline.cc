// Pending-unit FIFO with recycled units.
#include "sidecar/postgres/pipeline.h"

namespace tollgate::sidecar::postgres {

Pipeline::~Pipeline() {
  for (PendingUnit* u : units_) delete u;
  for (PendingUnit* u : spare_) delete u;
}

PendingUnit& Pipeline::push(PendingUnit::Kind kind) {
  PendingUnit* u;
  if (spare_.empty()) {
    u = new PendingUnit;
  } else {
    u = spare_.back();
    spare_.pop_back();
  }
  u->kind = kind;
  u->seq = next_seq_++;
  units_.push_back(u);
  return *u;
}

void Pipeline::recycle(PendingUnit* unit) {
  if (spare_.size() >= kKeepSpare) {
    delete unit;
    return;
  }
  *unit = PendingUnit{};  // drops facts and strings now, not when the unit is reused
  spare_.push_back(unit);
}

}  // namespace tollgate::sidecar::postgres
