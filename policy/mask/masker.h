// The compiled masking rules of one resource: which values of a response get rewritten, how.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/mask/mask_action.h"

namespace tollgate::policy {

// One masking rule as written in policy (already type-checked by the loader).
struct MaskingRuleSpec {
  std::string name;
  // Detector-based rule: "pan", or the name of a custom detector. Empty for column rules.
  std::string detector;
  // Column/field-name rule: globs matched case-insensitively against the column name
  // (`*` any run, `?` one char), e.g. "cvv", "cvc*", "*card_number*".
  std::vector<std::string> columns;
  MaskAction action;
};

// A custom detector from policy: an RE2 pattern, and an optional validator run on each match
// ("luhn": digits of the match must pass Luhn; "none").
struct DetectorSpec {
  std::string name;
  std::string pattern;
  std::string validator = "none";
};

// What the masker decided for one column, computed once per RowDescription.
struct ColumnPlan {
  // Rule masking the whole value (column-name rule), or nullptr.
  const MaskingRuleSpec* column_rule = nullptr;
  // True when detector rules must scan this column's values.
  bool scan = false;
};

// Immutable after compile(); shared by many threads without locks.
class Masker {
 public:
  // Compiles rules and custom detectors. Errors (bad RE2 pattern, unknown detector) name the
  // rule. Rules apply in order: the first column rule matching a name wins; every detector rule
  // scans values not already masked by a column rule.
  // `keep_number_types`: globs of result column names (masking.keepNumberTypes) for
  // keepsNumberType().
  static absl::StatusOr<std::shared_ptr<const Masker>> compile(
      std::vector<MaskingRuleSpec> rules, std::vector<DetectorSpec> detectors,
      std::vector<std::string> keep_number_types = {});

  // Plan for a column name (call once per column per result set).
  ColumnPlan planColumn(std::string_view column_name) const;
  // Plan for a column whose data may come from any of `names` (its own name and its lineage,
  // policy/sql/lineage.h): the first column rule, in policy order, matching any of them. With
  // `whole_row` (the value may carry any column) and no match, the first column rule of the
  // policy applies, so a row or unknown rename never slips a masked column through.
  ColumnPlan planColumn(const std::vector<std::string>& names, bool whole_row) const;
  bool hasColumnRules() const;
  // Every column rule, in policy order, matching any of `names`; with `whole_row` every column
  // rule. What may mask data read from those names.
  std::vector<const MaskingRuleSpec*> columnRulesFor(const std::vector<std::string>& names,
                                                     bool whole_row) const;
  // True when a result column of this name that detector rules scan keeps its number type
  // (int8, numeric) for the client, a card number found in it masked with zeros for the hidden
  // digits, instead of being described as text. Presentation only: the column is scanned and
  // masked either way.
  bool keepsNumberType(std::string_view column_name) const;

  // Masks one value under a plan. Returns nullopt when the value is unchanged (the common
  // case, so callers copy nothing), else the rewritten value. `rule_hit`, when non-null,
  // receives the name of the first rule that changed something.
  std::optional<std::string> maskValue(const ColumnPlan& plan, std::string_view value,
                                       std::string* rule_hit = nullptr) const;

  // Masks free text (log lines, error messages, notices, CLI input) with detector rules only.
  std::optional<std::string> maskText(std::string_view text, std::string* rule_hit = nullptr) const;

  bool hasDetectorRules() const;
  const std::vector<MaskingRuleSpec>& rules() const { return rules_; }

  Masker(const Masker&) = delete;
  Masker& operator=(const Masker&) = delete;
  ~Masker();

 private:
  Masker();
  // maskText without the bytea hex pass.
  std::optional<std::string> maskPlainText(std::string_view text, std::string* rule_hit) const;
  struct Impl;
  std::vector<MaskingRuleSpec> rules_;
  std::vector<std::string> keep_number_types_;
  std::unique_ptr<Impl> impl_;
};
using MaskerPtr = std::shared_ptr<const Masker>;

// Masks every PAN in `text` with the PCI display mask (first 6, last 4). The fallback scrubber
// for log lines and audit text; thread-safe.
std::string scrubPans(std::string_view text);
// scrubPans(), and also card numbers glued to other text ("job-4111111111111111",
// "ref4111111111111111"), which the detector leaves alone in data (order numbers, ids): any run
// of 12-19 digits with a card brand's prefix and length that passes Luhn. For log lines and
// audit records, where recall wins over the odd id masked.
std::string scrubPansForRecords(std::string_view text);
// Whether scrubPansForRecords() would change `text`.
bool containsPanForRecords(std::string_view text);

}  // namespace tollgate::policy
