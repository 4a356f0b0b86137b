// policy::Decision as the wire's v1::Decision. Header-only and outside the policy library's
// sources: only the layers that speak the protocol (sidecar events, control-plane services)
// include it, and they link both the policy and the proto libraries.
#pragma once

#include "policy/model.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::policy {

inline v1::Decision toProtoDecision(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return v1::DECISION_ALLOW;
    case Decision::kReview:
      return v1::DECISION_REVIEW;
    case Decision::kBlock:
      return v1::DECISION_BLOCK;
  }
  return v1::DECISION_UNSPECIFIED;
}

}  // namespace tollgate::policy
