// The masking rules of the sidecar's unit tests: the pan detector (pci display) and, unless
// turned off, a redacting column rule for `cvv`; `keep_number_types` as masking.keepNumberTypes.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "policy/mask/masker.h"

namespace tollgate::sidecar::postgres::testing {

inline std::shared_ptr<const policy::Masker> panAndCvvMasker(
    bool cvv_rule = true, std::vector<std::string> keep_number_types = {}) {
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
  auto m = policy::Masker::compile(rules, {}, std::move(keep_number_types));
  REQUIRE(m.ok());
  return *m;
}

}  // namespace tollgate::sidecar::postgres::testing
