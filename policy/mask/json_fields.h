// Field-aware masking of JSON text: column-name rules applied to object keys, detectors to
// strings, numbers and keys, in one streaming pass.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "policy/mask/masker.h"
#include "policy/sql/lineage.h"

namespace tollgate::policy {

// What maskJsonFields() asks of its caller. Implementations must not throw.
class JsonValueMasker {
 public:
  virtual ~JsonValueMasker() = default;
  // The field rule for object key `key` (unescaped), or nullptr when values under it are only
  // scanned.
  virtual const MaskingRuleSpec* fieldRule(std::string_view key) = 0;
  // The whole-value mask of `value` under `rule`: for a JSON string its decoded content, for
  // anything else (number, true/false, object, array) its JSON text as written. Returns
  // nullopt when the mask leaves the value as it is.
  virtual std::optional<std::string> maskField(const MaskingRuleSpec& rule,
                                               std::string_view value) = 0;
  // Detector scan of a decoded string, a decoded key or a number token; nullopt when unchanged.
  // (A caller that prefers to scan the whole output as text itself may always return nullopt.)
  virtual std::optional<std::string> maskScalar(std::string_view text) = 0;
};

// Nesting limit of maskJsonFields(); deeper documents are reported as kNotJson. The parser
// keeps its own stack, so the limit bounds memory, not the thread's stack.
inline constexpr size_t kMaxJsonDepth = 4096;

enum class JsonRewrite {
  kUnchanged,  // valid JSON, nothing to mask
  kRewritten,  // valid JSON, `out` holds the masked document
  kNotJson,    // not one JSON value (or nested deeper than kMaxJsonDepth): scan it as text
};

// Rewrites the JSON document `json` (json/jsonb text output) in a single pass without building
// a DOM:
// - a value under an object key with a field rule (string, number, boolean, or a whole nested
//   object/array) becomes the JSON string of hooks.maskField(); null stays null;
// - every other string, every number and every key goes through hooks.maskScalar(); a changed
//   string or key is re-encoded as a JSON string, a changed number becomes a JSON string. A
//   number with a fraction or an exponent that the scan leaves unchanged is scanned again as
//   the integer it stands for, if it is one (4.111111111111111e15 -> "4111111111111111",
//   policy/detect/number_forms.h); a hit becomes the JSON string of its masked digits.
// Keys are matched after unescaping ("c\u0076v" is cvv); duplicate keys are each masked.
// Unchanged bytes (whitespace, escapes, key order) are copied as they are, so the output is
// valid JSON whenever the input is. `out` is written only for kRewritten. Never throws.
JsonRewrite maskJsonFields(std::string_view json, JsonValueMasker& hooks, std::string* out);

// JsonValueMasker over a compiled Masker: field rules are its column rules (same globs, same
// order, as Masker::planColumn), field masks Masker::maskValue under that rule, scalars
// Masker::maskText. Remembers the first rule that changed something. Caches key lookups, so
// keep one per result set. Single-threaded; the masker must outlive it. maskField() must be
// given a rule this adapter's fieldRule() returned.
class MaskerJsonValueMasker : public JsonValueMasker {
 public:
  // With `lineage` (the statement's, nullable; its renames are copied), a key also matches the
  // rules of every name it was renamed from: to_jsonb(s) over `SELECT cvv AS k ...) s`.
  explicit MaskerJsonValueMasker(const Masker& masker, const OutputLineage* lineage = nullptr)
      : masker_(&masker) {
    if (lineage != nullptr) renames_.renames = lineage->renames;
  }

  // The first rule that changed a value since construction or the last takeRuleHit(), or
  // empty.
  const std::string& ruleHit() const { return rule_hit_; }
  // Returns ruleHit() and clears it (call once per value to report per-row hits).
  std::string takeRuleHit() { return std::exchange(rule_hit_, std::string()); }

  // JsonValueMasker
  const MaskingRuleSpec* fieldRule(std::string_view key) override;
  std::optional<std::string> maskField(const MaskingRuleSpec& rule,
                                       std::string_view value) override;
  std::optional<std::string> maskScalar(std::string_view text) override;

 private:
  static constexpr size_t kMaxCachedKeys = 256;
  const Masker* masker_;   // not owned; a pointer so the adapter stays assignable
  OutputLineage renames_;  // only its renames are set
  std::unordered_map<std::string, const MaskingRuleSpec*> rule_cache_;
  std::string rule_hit_;
};

// maskJsonFields() with `fields` when `text` is JSON, else the detectors over it as text
// (Masker::maskText). `hit` (nullable) receives the first rule that changed something.
std::optional<std::string> maskJsonOrText(const Masker& masker, std::string_view text,
                                          MaskerJsonValueMasker& fields, std::string* hit);

// The first column rule naming a key of what reads like JSON in `text`: a quoted name followed
// by ':' (also with its quotes escaped, `\"cvv\":`, as JSON inside a JSON string has them).
// With `escaped_only`, only escaped ones count. Null when none.
const MaskingRuleSpec* quotedKeyRule(const Masker& masker, std::string_view text,
                                     bool escaped_only);

}  // namespace tollgate::policy
