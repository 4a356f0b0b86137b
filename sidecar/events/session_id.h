// Session ids for audit events: 16 hex characters from the system's CSPRNG (randomHexId).
#pragma once

#include <string>

namespace tollgate::sidecar {

// A new random session id ("4ba2a89870237833"); each event of the session is id-N.
std::string newSessionId();

}  // namespace tollgate::sidecar
