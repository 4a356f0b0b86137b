// The compiled masker: column-glob rules, the built-in PAN detector and custom RE2 detectors.
#include "policy/mask/masker.h"

#include "policy/detect/card_brand.h"

#include <re2/re2.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "policy/detect/pan.h"
#include "policy/detect/text_splicer.h"
#include "policy/mask/bytea_text.h"
#include "policy/mask/glob.h"
#include "policy/sql/lineage.h"

namespace tollgate::policy {
namespace {

// Appends `view` to `out` with every listed span replaced by `fn(span)`.
template <typename Fn>
std::string replaceSpans(std::string_view view, const std::vector<PanMatch>& spans, Fn&& fn) {
  std::string out;
  out.reserve(view.size());
  size_t copied = 0;
  for (const PanMatch& m : spans) {
    out.append(view.data() + copied, m.begin - copied);
    out.append(fn(view.substr(m.begin, m.end - m.begin)));
    copied = m.end;
  }
  out.append(view.data() + copied, view.size() - copied);
  return out;
}

// Redacts every PAN still in `text`. Kept BIN/last-4 digits or hash output can, rarely, line up
// with neighbouring digits into a new card-shaped, Luhn-valid number; this makes "the output
// holds no PAN" an invariant. Terminates: each pass turns at least 12 digits into mask chars.
void scrubResidualPans(std::string& text, std::vector<PanMatch>& scratch) {
  static const MaskAction kRedact{MaskAction::Kind::kRedact};
  for (;;) {
    scratch.clear();
    if (findPans(text, scratch) == 0) return;
    text = replaceSpans(text, scratch, [](std::string_view s) { return maskPan(s, kRedact); });
  }
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

absl::Status checkAction(const MaskingRuleSpec& rule) {
  const MaskAction& a = rule.action;
  const char c = a.mask_char;
  if (c < 0x21 || c > 0x7e || (c >= '0' && c <= '9') || c == '-') {
    return absl::InvalidArgumentError("masking rule " + quoted(rule.name) +
                                      ": mask character must be printable, not a digit or '-'");
  }
  if (a.keep_first < 0 || a.keep_last < 0) {
    return absl::InvalidArgumentError("masking rule " + quoted(rule.name) +
                                      ": keepFirst/keepLast must not be negative");
  }
  if (a.kind == MaskAction::Kind::kHash && a.hash_key.empty()) {
    return absl::InvalidArgumentError("masking rule " + quoted(rule.name) +
                                      ": hash action needs a key");
  }
  return absl::OkStatus();
}

}  // namespace

struct Masker::Impl {
  struct Custom {
    std::string name;
    std::unique_ptr<RE2> re;
    bool luhn = false;
  };
  struct DetectorRule {
    const MaskingRuleSpec* rule = nullptr;
    const Custom* custom = nullptr;  // null: the built-in PAN detector
  };
  std::vector<Custom> customs;  // sized once; DetectorRule points into it
  std::vector<DetectorRule> detector_rules;
  std::vector<const MaskingRuleSpec*> column_rules;
  bool has_pan_rule = false;

  std::optional<std::string> applyPan(std::string_view view, const MaskAction& action) const {
    std::vector<PanMatch> matches;  // allocates only when something is found
    if (findPans(view, matches) == 0) return std::nullopt;
    return replaceSpans(view, matches, [&](std::string_view s) { return maskPan(s, action); });
  }

  std::optional<std::string> applyCustom(std::string_view view, const Custom& d,
                                         const MaskAction& action) const {
    TextSplicer out(view);
    size_t pos = 0;
    const re2::StringPiece input(view.data(), view.size());
    while (pos <= view.size()) {
      re2::StringPiece m;
      if (!d.re->Match(input, pos, view.size(), RE2::UNANCHORED, &m, 1)) break;
      const size_t b = static_cast<size_t>(m.data() - view.data());
      const size_t e = b + m.size();
      if (e == b) {  // empty match (e.g. an alternative that can be empty): step over it
        pos = b + 1;
        continue;
      }
      const std::string_view hit = view.substr(b, e - b);
      if (!d.luhn || luhnValid(hit)) {
        std::string masked = policy::maskValue(hit, action);
        if (masked != hit) out.replace(b, e, masked);
      }
      pos = e;
    }
    return out.finish();
  }
};

Masker::Masker() : impl_(std::make_unique<Impl>()) {}
Masker::~Masker() = default;

absl::StatusOr<std::shared_ptr<const Masker>> Masker::compile(
    std::vector<MaskingRuleSpec> rules, std::vector<DetectorSpec> detectors,
    std::vector<std::string> keep_number_types) {
  std::shared_ptr<Masker> m(new Masker());
  for (const std::string& g : keep_number_types) {
    if (g.empty()) return absl::InvalidArgumentError("keepNumberTypes: empty column pattern");
  }
  m->keep_number_types_ = std::move(keep_number_types);
  Impl& impl = *m->impl_;
  impl.customs.reserve(detectors.size());
  for (const DetectorSpec& d : detectors) {
    const std::string who = "detector " + quoted(d.name);
    if (d.name.empty()) return absl::InvalidArgumentError("detector with an empty name");
    if (d.name == "pan") return absl::InvalidArgumentError(who + ": the name is built in");
    for (const Impl::Custom& c : impl.customs) {
      if (c.name == d.name) return absl::InvalidArgumentError(who + ": defined twice");
    }
    if (d.validator != "none" && d.validator != "luhn" && !d.validator.empty()) {
      return absl::InvalidArgumentError(who + ": unknown validator " + quoted(d.validator) +
                                        " (want luhn or none)");
    }
    RE2::Options opts;
    opts.set_log_errors(false);
    auto re = std::make_unique<RE2>(d.pattern, opts);
    if (!re->ok()) {
      return absl::InvalidArgumentError(who + ": bad pattern " + quoted(d.pattern) + ": " +
                                        re->error());
    }
    if (RE2::FullMatch("", *re)) {
      return absl::InvalidArgumentError(who + ": pattern matches the empty string");
    }
    impl.customs.push_back(Impl::Custom{d.name, std::move(re), d.validator == "luhn"});
  }

  m->rules_ = std::move(rules);
  for (const MaskingRuleSpec& r : m->rules_) {
    const std::string who = "masking rule " + quoted(r.name);
    if (r.name.empty()) return absl::InvalidArgumentError("masking rule with an empty name");
    if (absl::Status s = checkAction(r); !s.ok()) return s;
    if (!r.detector.empty() && !r.columns.empty()) {
      return absl::InvalidArgumentError(who + ": set either detector or columns, not both");
    }
    if (!r.columns.empty()) {
      for (const std::string& g : r.columns) {
        if (g.empty()) return absl::InvalidArgumentError(who + ": empty column pattern");
      }
      impl.column_rules.push_back(&r);
      continue;
    }
    if (r.detector.empty()) {
      return absl::InvalidArgumentError(who + ": needs a detector or columns");
    }
    if (r.detector == "pan") {
      impl.detector_rules.push_back({&r, nullptr});
      impl.has_pan_rule = true;
      continue;
    }
    const Impl::Custom* found = nullptr;
    for (const Impl::Custom& c : impl.customs) {
      if (c.name == r.detector) found = &c;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(who + ": unknown detector " + quoted(r.detector));
    }
    impl.detector_rules.push_back({&r, found});
  }
  return std::shared_ptr<const Masker>(std::move(m));
}

ColumnPlan Masker::planColumn(std::string_view column_name) const {
  return planColumn({std::string(column_name)}, /*whole_row=*/false);
}

ColumnPlan Masker::planColumn(const std::vector<std::string>& names, bool whole_row) const {
  ColumnPlan plan;
  for (const MaskingRuleSpec* r : impl_->column_rules) {
    for (const std::string& g : r->columns) {
      for (const std::string& name : names) {
        if (!isCallName(name) && globMatch(g, name)) {
          plan.column_rule = r;
          return plan;
        }
      }
    }
  }
  if (whole_row && !impl_->column_rules.empty()) {
    plan.column_rule = impl_->column_rules.front();
    return plan;
  }
  plan.scan = !impl_->detector_rules.empty();
  return plan;
}

bool Masker::hasColumnRules() const { return !impl_->column_rules.empty(); }

std::vector<const MaskingRuleSpec*> Masker::columnRulesFor(const std::vector<std::string>& names,
                                                           bool whole_row) const {
  if (whole_row) return impl_->column_rules;
  std::vector<const MaskingRuleSpec*> out;
  for (const MaskingRuleSpec* r : impl_->column_rules) {
    const bool matches = std::any_of(r->columns.begin(), r->columns.end(), [&](const auto& g) {
      return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
        return !isCallName(name) && globMatch(g, name);
      });
    });
    if (matches) out.push_back(r);
  }
  return out;
}

bool Masker::keepsNumberType(std::string_view column_name) const {
  for (const std::string& g : keep_number_types_) {
    if (globMatch(g, column_name)) return true;
  }
  return false;
}

std::optional<std::string> Masker::maskValue(const ColumnPlan& plan, std::string_view value,
                                             std::string* rule_hit) const {
  if (plan.column_rule != nullptr) {
    std::string masked = policy::maskValue(value, plan.column_rule->action);
    if (masked == value) return std::nullopt;
    if (impl_->has_pan_rule) {
      std::vector<PanMatch> scratch;
      scrubResidualPans(masked, scratch);
    }
    if (rule_hit != nullptr) *rule_hit = plan.column_rule->name;
    return masked;
  }
  if (plan.scan) return maskText(value, rule_hit);
  return std::nullopt;
}

std::optional<std::string> Masker::maskText(std::string_view text, std::string* rule_hit) const {
  // bytea hex anywhere in a text (a bytea value, row_to_json(), ::text, array and record text,
  // a notification payload): its decoded bytes are scanned too.
  std::string first;  // the first rule that changed something, hex or plain
  auto hexed = maskByteaHex(text, [&](std::string_view bytes) {
    return maskPlainText(bytes, first.empty() ? &first : nullptr);
  });
  auto plain =
      maskPlainText(hexed ? std::string_view(*hexed) : text, first.empty() ? &first : nullptr);
  if (rule_hit != nullptr && !first.empty()) *rule_hit = first;
  return plain ? plain : hexed;
}

std::optional<std::string> Masker::maskPlainText(std::string_view text,
                                                 std::string* rule_hit) const {
  std::optional<std::string> cur;
  for (const Impl::DetectorRule& d : impl_->detector_rules) {
    const std::string_view view = cur ? std::string_view(*cur) : text;
    std::optional<std::string> next = d.custom == nullptr
                                          ? impl_->applyPan(view, d.rule->action)
                                          : impl_->applyCustom(view, *d.custom, d.rule->action);
    if (!next || *next == view) continue;
    if (rule_hit != nullptr && !cur) *rule_hit = d.rule->name;
    cur = std::move(next);
  }
  if (cur && impl_->has_pan_rule) {
    std::vector<PanMatch> scratch;
    scrubResidualPans(*cur, scratch);
  }
  return cur;
}

bool Masker::hasDetectorRules() const { return !impl_->detector_rules.empty(); }

namespace {

// Calls fn(begin, length) for each maximal run of digits in `text` that is card-shaped: 12-19
// digits, a brand's prefix at that length, Luhn-valid. Stops when fn returns true.
template <typename Fn>
bool forEachGluedPan(std::string_view text, Fn&& fn) {
  for (size_t i = 0; i < text.size();) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    size_t e = i;
    while (e < text.size() && text[e] >= '0' && text[e] <= '9') ++e;
    const size_t n = e - i;
    if (n >= 12 && n <= 19 && detect::plausibleLeadDigit(text[i])) {
      uint32_t prefix6 = 0;
      for (size_t k = 0; k < 6; ++k)
        prefix6 = prefix6 * 10 + static_cast<uint32_t>(text[i + k] - '0');
      if (detect::brandForPrefix(prefix6, n) != CardBrand::kUnknown &&
          detect::luhnDigits(text.data() + i, n) && fn(i, n)) {
        return true;
      }
    }
    i = e;
  }
  return false;
}

}  // namespace

std::string scrubPansForRecords(std::string_view text) {
  std::string out = scrubPans(text);
  forEachGluedPan(out, [&](size_t begin, size_t n) {
    for (size_t k = 6; k + 4 < n; ++k) out[begin + k] = '*';
    return false;
  });
  return out;
}

bool containsPanForRecords(std::string_view text) {
  return containsPan(text) || forEachGluedPan(text, [](size_t, size_t) { return true; });
}

std::string scrubPans(std::string_view text) {
  static const MaskAction kPci{MaskAction::Kind::kPciDisplay, 6, 4};
  std::vector<PanMatch> matches;
  if (findPans(text, matches) == 0) return std::string(text);
  std::string out =
      replaceSpans(text, matches, [](std::string_view s) { return maskPan(s, kPci); });
  scrubResidualPans(out, matches);
  return out;
}

}  // namespace tollgate::policy
