// Result-set masking plan and DataRow rewriting.
#include "sidecar/postgres/result_masker.h"

#include <optional>

#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/row_rewriter.h"

namespace tollgate::sidecar::postgres {

ResultMasker::ResultMasker(const policy::Masker* masker, const RowDescription& description,
                           const std::vector<int16_t>& formats, bool use_description_formats,
                           const policy::OutputLineage* lineage)
    : masker_(masker) {
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
      auto names = lineage->namesFor(i, description.count, f.name, &whole_row);
      c.plan = masker_->planColumn(
          names, whole_row && shape != ValueShape::kJsonb && f.type_oid != oid::kJson);
    } else {
      c.plan = masker_->planColumn(f.name);
    }
    if (c.plan.column_rule != nullptr) {
      c.work = true;
      c.as_text = shape != ValueShape::kText;
    } else if (c.plan.scan) {
      switch (shape) {
        case ValueShape::kText:
        case ValueShape::kJsonb:
          c.work = true;
          break;
        case ValueShape::kBigNumber:
          c.work = true;
          c.keep_number = f.table_oid == 0;
          c.as_text = !c.keep_number;
          break;
        case ValueShape::kSmallNumber:
          break;
        case ValueShape::kOther:
          // Text renderings of other types (arrays, records, composite values) can embed a
          // card number; binary ones are opaque and left alone.
          c.work = c.format == 0;
          break;
      }
    }
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
  for (auto value : row.columns) {
    if (i >= n) break;
    Column& c = columns_[i];
    if (!c.work || !value) {
      ++i;
      continue;
    }
    std::string_view text = *value;
    std::optional<std::string> converted;
    if (c.format == 1) {
      ValueShape shape = shapeOf(c.type_oid);
      if (shape == ValueShape::kJsonb && !text.empty()) {
        text.remove_prefix(1);  // version byte; kept below
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
    auto masked = masker_->maskValue(c.plan, text, &hit);
    if (masked && c.keep_number) {
      // Hidden digits become zeros so the value still decodes as the column's type.
      for (size_t k = 0; k < masked->size() && k < text.size(); ++k) {
        if ((*masked)[k] != text[k] && ((*masked)[k] < '0' || (*masked)[k] > '9')) {
          (*masked)[k] = '0';
        }
      }
      if (c.format == 1) {
        auto bin = textToBinary(c.type_oid, *masked);
        if (!bin) {
          masked.reset();  // cannot happen for values that came from the server
        } else {
          *masked = *std::move(bin);
        }
      }
    }
    if (masked) {
      ++*values_masked;
      if (rule_hit != nullptr && rule_hit->empty()) *rule_hit = hit;
      if (c.format == 1 && shapeOf(c.type_oid) == ValueShape::kJsonb) {
        replacements_[i] = std::string(1, (*value)[0]) + *masked;
      } else {
        replacements_[i] = *std::move(masked);
      }
      repl_[i] = replacements_[i];
      changed = true;
    } else if (converted && c.as_text) {
      // Described as text: a binary number must still be sent as its text form.
      replacements_[i] = *std::move(converted);
      repl_[i] = replacements_[i];
      changed = true;
    }
    ++i;
  }
  if (!changed) return false;
  out->clear();
  return appendRewrittenDataRow(row, repl_, out).ok();
}

}  // namespace tollgate::sidecar::postgres
