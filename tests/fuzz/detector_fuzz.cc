// Fuzz target for the PAN scanner and the Masker: arbitrary bytes in, invariants checked.
//
// Invariants (abort() on failure): matches are in bounds, ordered, non-overlapping, Luhn-valid
// with the brand cardBrand() gives; containsPan agrees with findPans; masked output has the
// input's length for length-preserving actions and holds no PAN.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/detect/pan.h"
#include "policy/mask/glob.h"
#include "policy/mask/masker.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tollgate::fuzz::check;
using tollgate::policy::MaskAction;
using tollgate::policy::Masker;
using tollgate::policy::MaskerPtr;
using tollgate::policy::MaskingRuleSpec;
using tollgate::policy::PanMatch;

struct Subject {
  MaskerPtr masker;
  bool keeps_length;
};

Subject makeSubject(MaskAction::Kind kind, int keep_first, bool keep_length) {
  MaskAction pan_action;
  pan_action.kind = kind;
  pan_action.keep_first = keep_first;
  pan_action.hash_key = "fuzz-key";
  pan_action.hash_keep_length = keep_length;
  MaskAction redact;
  redact.kind = MaskAction::Kind::kRedact;
  MaskingRuleSpec pan{"pan", "pan", {}, pan_action};
  MaskingRuleSpec acct{"acct", "acct", {}, redact};
  MaskingRuleSpec cvv{"cvv", "", {"cvv", "cvc*"}, redact};
  auto m = Masker::compile({pan, acct, cvv}, {{"acct", R"(ACCT-\d{6,10})", "luhn"}});
  check(m.ok(), "masker compiles");
  return {*m, keep_length};
}

const std::vector<Subject>& subjects() {
  static const std::vector<Subject> kSubjects = {
      makeSubject(MaskAction::Kind::kPciDisplay, 6, true),
      makeSubject(MaskAction::Kind::kPciDisplay, 8, true),
      makeSubject(MaskAction::Kind::kLast4, 0, true),
      makeSubject(MaskAction::Kind::kRedact, 0, true),
      makeSubject(MaskAction::Kind::kHash, 0, true),
      makeSubject(MaskAction::Kind::kHash, 0, false),
  };
  return kSubjects;
}

void checkMatches(std::string_view text) {
  std::vector<PanMatch> m;
  const size_t n = tollgate::policy::findPans(text, m);
  check(n == m.size(), "findPans returns the count appended");
  check(tollgate::policy::containsPan(text) == (n > 0), "containsPan agrees with findPans");
  for (size_t i = 0; i < m.size(); ++i) {
    check(m[i].begin < m[i].end && m[i].end <= text.size(), "match in bounds");
    if (i > 0) check(m[i - 1].end <= m[i].begin, "matches ordered and disjoint");
    const std::string_view span = text.substr(m[i].begin, m[i].end - m[i].begin);
    check(m[i].digits >= 12 && m[i].digits <= 19, "digit count 12-19");
    check(tollgate::policy::luhnValid(span), "match passes Luhn");
    check(tollgate::policy::cardBrand(span) == m[i].brand, "brand agrees with cardBrand");
    check(span.front() >= '0' && span.front() <= '9' && span.back() >= '0' && span.back() <= '9',
          "match starts and ends on a digit");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("detector_fuzz", text);
  checkMatches(text);

  for (const Subject& s : subjects()) {
    const auto out = s.masker->maskText(text);
    if (out) {
      if (s.keeps_length) check(out->size() == text.size(), "masked text keeps length");
      check(!tollgate::policy::containsPan(*out), "masked text holds no PAN");
    } else {
      check(!tollgate::policy::containsPan(text), "unchanged text held no PAN");
    }
    const auto col = s.masker->maskValue(s.masker->planColumn("CVC2"), text);
    if (col) check(col->size() == text.size(), "column redact keeps length");
  }

  const std::string scrubbed = tollgate::policy::scrubPans(text);
  check(scrubbed.size() == text.size(), "scrubPans keeps length");
  check(!tollgate::policy::containsPan(scrubbed), "scrubPans leaves no PAN");

  // Globs: split the input into pattern and name; only termination matters.
  const size_t cut = size / 2;
  (void)tollgate::policy::globMatch(text.substr(0, cut), text.substr(cut));
  return 0;
}
