// Result-set masking plan and DataRow rewriting.
#include "sidecar/postgres/result_masker.h"

#include <optional>

#include "policy/detect/number_forms.h"
#include "policy/mask/bytea_text.h"
#include "sidecar/postgres/composite_masking.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/row_rewriter.h"
#include "sidecar/postgres/structured_values.h"
#include "sidecar/postgres/text_masking.h"

namespace tollgate::sidecar::postgres {
namespace {

// Array types whose elements can hold a card number and are decoded as numbers (int8[],
// numeric[], float8[], money[]).
bool isNumberArray(uint32_t type_oid) {
  const uint32_t element = arrayElementOid(type_oid);
  return element != 0 && shapeOf(element) == ValueShape::kBigNumber;
}

policy::NumberForm formOf(uint32_t type_oid) {
  return type_oid == oid::kMoney ? policy::NumberForm::kMoney : policy::NumberForm::kDecimal;
}

// Integer digits a numeric(p, s) column can hold (p - s; PostgreSQL 15 allows a negative
// scale), or nullopt for an unconstrained numeric. `typmod` is ((p << 16) | (s & 0x7ff)) + 4.
std::optional<int> numericIntegerDigits(int32_t typmod) {
  if (typmod < 4) return std::nullopt;
  const int32_t t = typmod - 4;
  const int precision = (t >> 16) & 0xffff;
  const int scale = ((t & 0x7ff) ^ 1024) - 1024;
  return precision - scale;
}

// Whether a scanned number column keeps its type for the client (a card number found in it
// gets zeros for its hidden digits) rather than being described as text (it reads
// 411111******1111). Computed values (no source table) keep theirs, so aggregates stay numbers;
// so do table columns of float8 and money, and numeric columns too narrow for a 12-digit card
// number. Table int8 and wide numeric columns are described as text, since they are how card
// numbers get stored as numbers, unless masking.keepNumberTypes names them.
bool keepsNumberType(const FieldDescription& f, const policy::Masker& masker) {
  if (f.table_oid == 0 || f.type_oid == oid::kFloat8 || f.type_oid == oid::kMoney) return true;
  if (f.type_oid == oid::kNumeric) {
    auto digits = numericIntegerDigits(f.type_modifier);
    if (digits && *digits < 12) return true;
  }
  return masker.keepsNumberType(f.name);
}

}  // namespace

ResultMasker::ResultMasker(const policy::Masker* masker, const RowDescription& description,
                           const std::vector<int16_t>& formats, bool use_description_formats,
                           const policy::OutputLineage* lineage, const TypeCatalog* catalog)
    : masker_(masker), catalog_(catalog) {
  if (masker_ == nullptr) return;
  columns_.resize(description.count);
  description.forEachField([&](uint16_t i, const FieldDescription& f) {
    Column& c = columns_[i];
    c.type_oid = f.type_oid;
    if (use_description_formats) {
      c.format = f.format;
    } else if (formats.size() == 1) {
      c.format = formats[0];
    } else if (i < formats.size()) {
      c.format = formats[i];
    }
    ValueShape shape = shapeOf(f.type_oid);
    if (lineage != nullptr && lineage->known && masker_->hasColumnRules()) {
      bool whole_row = false;
      bool reshaped = false;
      auto names = lineage->namesFor(i, description.count, f.name, &whole_row, &reshaped);
      const bool json_fields = shape == ValueShape::kJsonb || f.type_oid == oid::kJson;
      // A JSON row keeps its column names as field names, matched one by one, unless it was
      // reshaped on its way (to_jsonb(c)->'cvv').
      c.plan = masker_->planColumn(names, whole_row && (!json_fields || reshaped));
      if (c.plan.column_rule == nullptr && catalog_ != nullptr &&
          catalog_->fieldsOf(f.type_oid) == nullptr &&
          catalog_->compositeOfArray(f.type_oid) == 0) {
        // Computed from a column whose composite type has a field a rule names, and no longer
        // of a composite type whose fields can be told apart: masked whole.
        c.plan.column_rule = ruleCarriedBy(*catalog_, names);
      }
    } else {
      c.plan = masker_->planColumn(f.name);
    }
    const bool json = shape == ValueShape::kJsonb || f.type_oid == oid::kJson;
    if (c.plan.column_rule != nullptr) {
      c.work = true;
      c.as_text = shape != ValueShape::kText;
    } else if (json && (c.plan.scan || masker_->hasColumnRules())) {
      // Field names inside JSON meet the column rules even without detector rules.
      c.work = true;
      c.json = true;
    } else if (c.plan.scan) {
      switch (shape) {
        case ValueShape::kText:
        case ValueShape::kJsonb:
          c.work = true;
          break;
        case ValueShape::kBigNumber:
          c.work = true;
          c.keep_number = keepsNumberType(f, *masker_);
          c.as_text = !c.keep_number;
          break;
        case ValueShape::kSmallNumber:
          break;
        case ValueShape::kOther:
          // Arrays, records, row values, bytea...: their text renderings are scanned as text,
          // binary ones element by element inside their structure.
          c.work = true;
          c.structured = c.format == 1;
          break;
      }
    }
    if (catalog_ != nullptr && c.plan.column_rule == nullptr && !c.json &&
        masker_->hasColumnRules()) {
      if (const auto* rule = catalog_->ruleInside(f.type_oid)) {
        // A composite whose fields a column rule names, or an array of such.
        c.work = true;
        if (c.format == 1) {
          c.structured = true;
          c.as_text = c.keep_number = false;
        } else if (catalog_->fieldsOf(f.type_oid) != nullptr) {
          c.composite = true;
          c.composite_rule = rule;
        } else {
          c.plan.column_rule = rule;  // text arrays of records are not parsed: masked whole
        }
      }
    }
    if (c.json && !json_fields_) json_fields_.emplace(*masker_, lineage);
    if (c.as_text) text_columns_.push_back(i);
    active_ = active_ || c.work;
  });
}

bool ResultMasker::maskRow(const DataRow& row, std::string* out, uint64_t* values_masked,
                           std::string* rule_hit) {
  if (!active_) return false;
  size_t n = std::min<size_t>(row.columns.size(), columns_.size());
  repl_.assign(n, std::nullopt);
  replacements_.resize(n);
  bool changed = false;
  size_t i = 0;
  // Column i is sent as `value`; `masked` counts it as a value a rule changed (rule `hit`).
  auto replace = [&](std::string value, bool masked, const std::string& hit) {
    if (masked) {
      ++*values_masked;
      if (rule_hit != nullptr && rule_hit->empty()) *rule_hit = hit;
    }
    replacements_[i] = std::move(value);
    repl_[i] = replacements_[i];
    changed = true;
  };
  for (auto value : row.columns) {
    if (i >= n) break;
    Column& c = columns_[i];
    if (!c.work || !value) {
      ++i;
      continue;
    }
    std::string_view text = *value;
    if (c.json || c.structured) {
      std::string hit;
      std::optional<std::string> masked;
      if (c.structured) {
        auto leaf = [&](uint32_t leaf_oid, std::string_view bytes) {
          return maskLeaf(leaf_oid, bytes, &hit);
        };
        auto field = [&](std::string_view name, uint32_t field_oid, std::string_view bytes) {
          return maskField(name, field_oid, bytes, &hit);
        };
        const FieldMasker fields(field);
        masked = maskBinaryValue(c.type_oid, text, leaf, DatabaseTypes{catalog_, &fields});
        if (masked && hit.empty()) hit = panRuleName();
      } else if (c.format == 1 && shapeOf(c.type_oid) == ValueShape::kJsonb) {
        if (!text.empty() && text[0] == 1) {
          masked = maskJson(text.substr(1), &hit);
          if (masked) masked->insert(masked->begin(), '\x01');
        } else {
          masked = maskRawBytes(text);  // unknown jsonb version: at least no card number
        }
      } else {
        masked = maskJson(text, &hit);
      }
      if (masked) replace(*std::move(masked), true, hit);
      ++i;
      continue;
    }
    std::optional<std::string> converted;
    if (c.format == 1) {
      ValueShape shape = shapeOf(c.type_oid);
      if (shape == ValueShape::kJsonb && !text.empty()) {
        // Only a column rule leads here, and it describes the column as text: the client
        // decodes text, so the jsonb version byte goes, masked or not.
        text.remove_prefix(1);
        converted = std::string(text);
      } else if (shape != ValueShape::kText) {
        converted = binaryToText(c.type_oid, text);
        if (converted) {
          text = *converted;
        } else if (c.plan.column_rule == nullptr) {
          ++i;
          continue;  // opaque binary value, no column rule: nothing to scan
        }
      }
    }
    std::string hit;
    std::optional<std::string> masked;
    if (c.composite) {
      masked = maskComposite(c, text, &hit);
    } else if (c.plan.column_rule == nullptr && shapeOf(c.type_oid) == ValueShape::kBigNumber) {
      masked = maskNumberText(*masker_, formOf(c.type_oid), text, c.keep_number, &hit);
      if (masked && c.keep_number && c.format == 1) {
        // Always succeeds: maskNumber() kept a valid text of the type.
        masked = textToBinary(c.type_oid, *masked);
        if (!masked) masked = textToBinary(c.type_oid, "0");  // never the card number
      }
    } else if (c.plan.column_rule == nullptr && c.format == 0 &&
               shapeOf(c.type_oid) == ValueShape::kOther) {
      if (c.type_oid == oid::kBytea && !text.starts_with("\\x")) {  // bytea_output = escape
        masked = policy::maskByteaEscape(
            text, [&](std::string_view bytes) { return masker_->maskValue(c.plan, bytes, &hit); });
      }
      if (!masked) masked = maskOtherText(*masker_, c.plan, text, &hit);
      if (masked && isNumberArray(c.type_oid)) {
        // {4111111111111111} in an int8[] / numeric[]: the client decodes the elements as
        // numbers, so hidden digits are zeros, not '*' (as in binary format).
        masked = policy::zeroHiddenDigits(text, *masked);
      }
    } else {
      masked = masker_->maskValue(c.plan, text, &hit);
    }
    if (masked) {
      replace(*std::move(masked), true, hit);
    } else if (converted && c.as_text) {
      // Described as text: a binary number or jsonb must still be sent as its text form.
      replace(*std::move(converted), false, hit);
    }
    ++i;
  }
  if (!changed) return false;
  out->clear();
  return appendRewrittenDataRow(row, repl_, out).ok();
}

FieldMask ResultMasker::maskField(std::string_view name, uint32_t field_oid, std::string_view bytes,
                                  std::string* hit) {
  // A field of a type altered since the catalog was read: any field may be the one a rule
  // names, so each gets the policy's first column rule (as a value that may carry a whole row).
  const policy::MaskingRuleSpec* rule =
      name.empty() ? masker_->planColumn({}, /*whole_row=*/true).column_rule
                   : masker_->planColumn(name).column_rule;
  if (rule == nullptr) return FieldMask{};
  if (hit->empty()) *hit = rule->name;
  // A text field keeps its type with the rule's mask; no other binary form can hold one.
  if (shapeOf(catalog_->resolve(field_oid)) != ValueShape::kText) return FieldMask{true, {}};
  auto masked = masker_->maskValue(policy::ColumnPlan{rule, false}, bytes);
  return FieldMask{true, masked ? *std::move(masked) : std::string(bytes)};
}

std::optional<std::string> ResultMasker::maskComposite(const Column& c, std::string_view text,
                                                       std::string* hit) {
  bool failed = false;
  auto fields = maskCompositeText(*catalog_, *masker_, c.type_oid, text, hit, &failed);
  if (failed) {
    // Not the record text of its type: the whole value gets the rule found inside.
    return masker_->maskValue(policy::ColumnPlan{c.composite_rule, false}, text, hit);
  }
  const std::string_view fields_masked = fields ? std::string_view(*fields) : text;
  if (!c.plan.scan) return fields;
  auto scanned = maskOtherText(*masker_, c.plan, fields_masked, hit);
  return scanned ? std::move(scanned) : std::move(fields);
}

std::string ResultMasker::panRuleName() const {
  for (const auto& r : masker_->rules()) {
    if (r.detector == "pan") return r.name;
  }
  return masker_->rules().empty() ? std::string() : masker_->rules().front().name;
}

std::optional<std::string> ResultMasker::maskJson(std::string_view text, std::string* hit) {
  return policy::maskJsonOrText(*masker_, text, *json_fields_, hit);
}

std::optional<std::string> ResultMasker::maskLeaf(uint32_t type_oid, std::string_view bytes,
                                                  std::string* hit) {
  const policy::ColumnPlan scan{nullptr, true};
  std::string leaf_hit;
  std::optional<std::string> masked;
  switch (shapeOf(type_oid)) {
    case ValueShape::kText:
      masked = masker_->maskValue(scan, bytes, &leaf_hit);
      break;
    case ValueShape::kJsonb:
      if (!bytes.empty() && bytes[0] == 1) {
        masked = masker_->maskValue(scan, bytes.substr(1), &leaf_hit);
        if (masked) masked->insert(masked->begin(), '\x01');
      }
      break;
    case ValueShape::kBigNumber: {
      auto text = binaryToText(type_oid, bytes);
      if (!text) break;
      masked = maskNumberText(*masker_, formOf(type_oid), *text, /*keep_type=*/true,
                              &leaf_hit);  // stays a number
      if (!masked) break;
      auto bin = textToBinary(type_oid, *masked);
      masked = bin ? std::move(bin) : textToBinary(type_oid, "0");
      break;
    }
    default:
      break;
  }
  if (masked && hit->empty()) *hit = leaf_hit;
  return masked;
}

}  // namespace tollgate::sidecar::postgres
