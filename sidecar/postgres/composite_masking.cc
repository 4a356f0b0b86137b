// Column rules inside composite values (composite_masking.h).
#include "sidecar/postgres/composite_masking.h"

#include "policy/detect/text_splicer.h"
#include "sidecar/postgres/record_text.h"
#include "sidecar/postgres/structured_values.h"

namespace tollgate::sidecar::postgres {
namespace {

const policy::MaskingRuleSpec* ruleInside(const TypeCatalog& catalog, const policy::Masker& masker,
                                          uint32_t type_oid, int depth) {
  if (depth > kMaxStructuredDepth) return nullptr;
  const auto* fields = catalog.fieldsOf(type_oid);
  if (fields == nullptr) {
    bool multirange = false;
    uint32_t inner = catalog.compositeOfArray(type_oid);
    if (inner == 0) inner = catalog.rangeSubtype(type_oid, &multirange);  // a range of them
    return inner == 0 ? nullptr : ruleInside(catalog, masker, inner, depth + 1);
  }
  for (const TypeCatalog::Field& f : *fields) {
    if (const auto* rule = masker.planColumn(f.name).column_rule) return rule;
    if (const auto* rule = ruleInside(catalog, masker, f.type_oid, depth + 1)) return rule;
  }
  return nullptr;
}

std::optional<std::string> maskText(const TypeCatalog& catalog, const policy::Masker& masker,
                                    uint32_t type_oid, std::string_view text, int depth,
                                    std::string* hit, bool* failed) {
  const auto* fields = catalog.fieldsOf(type_oid);
  auto parsed = parseRecordText(text);
  if (fields == nullptr || depth > kMaxStructuredDepth || !parsed ||
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
    const policy::MaskingRuleSpec* own = masker.planColumn(f.name).column_rule;
    const policy::MaskingRuleSpec* inner =
        own != nullptr ? nullptr : ruleInside(catalog, masker, f.type_oid, depth + 1);
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

const policy::MaskingRuleSpec* ruleInsideComposite(const TypeCatalog& catalog,
                                                   const policy::Masker& masker,
                                                   uint32_t type_oid) {
  return ruleInside(catalog, masker, type_oid, 0);
}

const policy::MaskingRuleSpec* ruleCarriedBy(const TypeCatalog& catalog,
                                             const policy::Masker& masker,
                                             const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const std::vector<uint32_t>* types = catalog.typesOfColumn(name);
    if (types == nullptr) continue;
    for (uint32_t type : *types) {
      if (const auto* rule = ruleInside(catalog, masker, type, 0)) return rule;
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
