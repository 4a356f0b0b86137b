// Masking of one result set as it streams: which columns to touch, the RowDescription the
// client sees, and DataRow rewriting with lengths fixed up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "policy/mask/json_fields.h"
#include "policy/mask/masker.h"
#include "policy/sql/lineage.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/structured_values.h"
#include "sidecar/postgres/type_catalog.h"
#include "sidecar/postgres/views.h"

namespace tollgate::sidecar::postgres {

// Built once per RowDescription; then maskRow() per DataRow. Holds a reference to the masker,
// which must outlive it (the session keeps the policy snapshot alive). Single-threaded.
//
// Columns a masking rule can change but whose type a client would decode as something other
// than text are described to the client as text, and their values are sent as text in either
// format, so a masked value never breaks the client's decoder: any type under a column-name
// rule, and table columns of int8 or numeric wide enough for a card number that detector rules
// scan. Other number columns keep their type: computed ones (no source table: count(*), sums,
// casts, expressions) so aggregates stay numbers, float8 and money, numeric(p, s) with fewer
// than 12 integer digits, and columns masking.keepNumberTypes names (ids). A card number found
// in one is masked with zeros in place of the hidden digits, which keeps the value a valid
// number of the same type and notation.
//
// What the detector rules scan:
// - text-like, json and jsonb values (json/jsonb field-aware, policy/mask/json_fields.h,
//   including numbers in exponent form such as 4.111111111111111e15);
// - int8/numeric/float8/money: the digits as written, and the integer an exponent or money
//   rendering stands for ("4.111111111111111e+15", "$4,111,111,111,111,111.00"; binary values
//   converted first). A number with a nonzero fraction is not a card number. int2/int4/oid and
//   float4 (8 exact digits at most) cannot hold one and are not scanned;
// - any other type in text format as text, plus the bytes of every hex-format bytea in it
//   ("\x3431...") and integers in exponent form ({4.111111111111111e+15}, kept numbers with
//   zeros); in binary format inside its structure (structured_values.h): array and record
//   leaves as above, bytea and unknown scalars as raw bytes.
//
// With the session's type catalog (type_catalog.h), binary values of domains are decoded as
// their base types, and column rules reach the fields of composite types by name: in text
// format the field is masked inside the record text, in binary format a text field gets the
// rule's mask and any other field is sent as NULL; an array of composites in text format is
// masked whole with the rule found inside.
class ResultMasker {
 public:
  ResultMasker() = default;
  // `formats`: the result format codes in effect (Bind's list: empty = all text, one = all,
  // else one per column). When `use_description_formats`, the RowDescription's own format
  // fields are used instead (Describe portal / simple query).
  // `lineage` (nullable) is the statement's result-column lineage: column-name rules then also
  // match the names a column's data comes from (`SELECT cvv AS c`), and a column that may carry
  // a whole row is masked whole unless it is JSON, whose field names are matched one by one.
  ResultMasker(const policy::Masker* masker, const RowDescription& description,
               const std::vector<int16_t>& formats, bool use_description_formats,
               const policy::OutputLineage* lineage = nullptr,
               const TypeCatalog* catalog = nullptr);

  // True when at least one column needs looking at.
  bool active() const { return active_; }
  // Columns described as text for the client (0-based, ascending).
  const std::vector<uint16_t>& textColumns() const { return text_columns_; }

  // Masks one row. Returns false when nothing changed (forward the original bytes), true
  // when `out` received a complete rewritten DataRow message. `values_masked` counts values
  // a rule changed; `rule_hit` receives the first rule that changed something.
  bool maskRow(const DataRow& row, std::string* out, uint64_t* values_masked,
               std::string* rule_hit);

 private:
  struct Column {
    policy::ColumnPlan plan;
    uint32_t type_oid = 0;
    int16_t format = 0;
    bool as_text = false;      // described to the client as text
    bool work = false;         // needs looking at
    bool keep_number = false;  // int8/numeric kept as such: mask hidden digits with '0'
    bool json = false;         // json/jsonb: field names matched against column rules
    bool structured = false;   // binary array/record/other: masked inside its structure
    bool composite = false;    // text record whose fields column rules name (catalog)
    const policy::MaskingRuleSpec* composite_rule = nullptr;  // the first such rule
  };
  // Masks a json/jsonb text (jsonb binary without its version byte); nullopt when unchanged.
  std::optional<std::string> maskJson(std::string_view text, std::string* hit);
  // The rule a raw card-number scan reports (the pan detector rule, else the first rule).
  std::string panRuleName() const;
  // Masks one scalar leaf of a binary structured value (structured_values.h).
  std::optional<std::string> maskLeaf(uint32_t type_oid, std::string_view bytes, std::string* hit);
  // A field of a composite value in binary format, by name: its column rule, if any.
  FieldMask maskField(std::string_view name, uint32_t field_oid, std::string_view bytes,
                      std::string* hit);
  // A text-format composite value: column rules on its fields, then the detectors.
  std::optional<std::string> maskComposite(const Column& c, std::string_view text,
                                           std::string* hit);

  const policy::Masker* masker_ = nullptr;
  const TypeCatalog* catalog_ = nullptr;
  std::optional<policy::MaskerJsonValueMasker> json_fields_;  // when a column is JSON
  std::vector<Column> columns_;
  std::vector<uint16_t> text_columns_;
  bool active_ = false;
  // Scratch space reused across rows.
  std::vector<std::string> replacements_;
  std::vector<std::optional<std::string_view>> repl_;  // views into replacements_
};

}  // namespace tollgate::sidecar::postgres
