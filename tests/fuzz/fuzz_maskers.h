// Maskers shared by the fuzz targets.
#pragma once

#include "policy/mask/masker.h"

namespace tollgate::fuzz {

// One column rule: `cvv` redacted.
inline const policy::Masker& cvvMasker() {
  static const auto masker = [] {
    policy::MaskingRuleSpec cvv;
    cvv.name = "cvv";
    cvv.columns = {"cvv"};
    cvv.action.kind = policy::MaskAction::Kind::kRedact;
    return *policy::Masker::compile({cvv}, {});
  }();
  return *masker;
}

}  // namespace tollgate::fuzz
