// Random session ids.
#include "sidecar/events/session_id.h"

#include "common/random_id.h"

namespace tollgate::sidecar {

std::string newSessionId() { return randomHexId(8); }

}  // namespace tollgate::sidecar
