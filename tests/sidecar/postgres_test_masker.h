// The masking rules of the sidecar's unit tests: the pan detector (pci display) and, unless
// turned off, a redacting column rule for `cvv`.
#pragma once

#include <memory>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "policy/mask/masker.h"

namespace tollgate::sidecar::postgres::testing {

inline std::shared_ptr<const policy::Masker> panAndCvvMasker(bool cvv_rule = true) {
  policy::MaskingRuleSpec pan;
  pan.name = "pan";
  pan.detector = "pan";
  std::vector<policy::MaskingRuleSpec> rules = {pan};
  if (cvv_rule) {
    policy::MaskingRuleSpec cvv;
    cvv.name = "cvv";
    cvv.columns = {"cvv"};
    cvv.action.kind = policy::MaskAction::Kind::kRedact;
    rules.push_back(cvv);
  }
  auto m = policy::Masker::compile(rules, {});
  REQUIRE(m.ok());
  return *m;
}

}  // namespace tollgate::sidecar::postgres::testing
