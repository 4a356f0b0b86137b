// Column rules inside composite values (composite_masking.h).
#include "sidecar/postgres/composite_masking.h"

#include "policy/detect/text_splicer.h"
#include "sidecar/postgres/record_text.h"
#include "sidecar/postgres/structured_values.h"

namespace tollgate::sidecar::postgres {
namespace {

std::optional<std::string> maskText(const TypeCatalog& catalog, const policy::Masker& masker,
                                    uint32_t type_oid, std::string_view text, int depth,
                                    std::string* hit, bool* failed) {
  const auto* fields = catalog.fieldsOf(type_oid);
  auto parsed = parseRecordText(text);
  // After DDL in the session, which field is which is unknown: the caller masks it whole.
  if (fields == nullptr || catalog.stale() || depth > kMaxStructuredDepth || !parsed ||
      parsed->size() != std::max<size_t>(fields->size(), 1)) {
    *failed = true;
    return std::nullopt;
  }
  policy::TextSplicer out(text);
  std::string quoted;
  for (size_t i = 0; i < fields->size(); ++i) {
    const RecordTextField& field = (*parsed)[i];
    if (!field.value) continue;  // NULL
    const TypeCatalog::Field& f = (*fields)[i];
    std::optional<std::string> masked;
    const policy::MaskingRuleSpec* own = catalog.fieldRule(type_oid, i);
    const policy::MaskingRuleSpec* inner =
        own != nullptr ? nullptr : catalog.ruleInside(f.type_oid);
    if (own != nullptr) {
      masked = masker.maskValue(policy::ColumnPlan{own, false}, *field.value, hit);
    } else if (inner != nullptr && catalog.fieldsOf(f.type_oid) != nullptr) {
      masked = maskText(catalog, masker, f.type_oid, *field.value, depth + 1, hit, failed);
      if (*failed) return std::nullopt;
    } else if (inner != nullptr) {
      // An array of composites in text form: masked whole with the rule found inside.
      masked = masker.maskValue(policy::ColumnPlan{inner, false}, *field.value, hit);
    }
    if (!masked) continue;
    quoted.clear();
    appendRecordField(quoted, *masked);
    out.replace(field.begin, field.end, quoted);
  }
  return out.finish();
}

}  // namespace

const policy::MaskingRuleSpec* ruleCarriedBy(const TypeCatalog& catalog,
                                             const std::vector<std::string>& names) {
  // Most databases have no column of a type of their own: no lookup per name then (this runs
  // after every statement, errorsMayQuoteMaskedData()).
  if (!catalog.hasTypedColumns()) return nullptr;
  for (const std::string& name : names) {
    const std::vector<uint32_t>* types = catalog.typesOfColumn(name);
    if (types == nullptr) continue;
    for (uint32_t type : *types) {
      if (const auto* rule = catalog.ruleInside(type)) return rule;
    }
  }
  return nullptr;
}

std::optional<std::string> maskCompositeText(const TypeCatalog& catalog,
                                             const policy::Masker& masker, uint32_t type_oid,
                                             std::string_view text, std::string* hit,
                                             bool* failed) {
  *failed = false;
  return maskText(catalog, masker, type_oid, text, 0, hit, failed);
}

}  // namespace tollgate::sidecar::postgres
