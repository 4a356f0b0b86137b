// Masking of COPY ... TO STDOUT rows as they stream. COPY sends no column names or types: the
// columns come from the statement (its column list or query, policy/sql/lineage.h) and each
// field is read back from the text or CSV row format, masked like a result value of unknown
// type, and written again in that format. Binary COPY cannot be read without the types and is
// refused before it runs (PostgresSession::decide).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/mask/json_fields.h"
#include "policy/mask/masker.h"
#include "policy/sql/facts.h"
#include "sidecar/postgres/type_catalog.h"

namespace tollgate::sidecar::postgres {

class CopyOutMasker {
 public:
  // `lineage` (nullable: the columns are unknown, and every field may carry any column) is the
  // statement's result-column lineage. `masker` must outlive this object. The format must be
  // text or CSV and readable.
  // With the session's type catalog (nullable), a field read from a table column of a
  // composite type with a field a column rule names (`COPY (SELECT card FROM t) TO STDOUT`) is
  // masked whole with that rule: COPY carries no column types to tell its fields apart.
  CopyOutMasker(const policy::Masker* masker, const policy::CopyOutFormat& format,
                const policy::OutputLineage* lineage, const TypeCatalog* catalog = nullptr);

  // Masks the rows of one CopyData payload. Returns false when `data` ends a row, nothing
  // is pending from an earlier payload, and no value changed: forward the message as it
  // is. Otherwise `*out` receives the payload to send instead: the complete rows, masked. A
  // row the payload does not finish is held until the payload that does (the server sends one
  // row per message; a split row is still never forwarded unread).
  bool maskData(std::string_view data, std::string* out);
  // At CopyDone: a row left unfinished, masked whole (never forwarded unread), or "".
  std::string finish();

  uint64_t rows() const { return rows_; }
  uint64_t valuesMasked() const { return values_masked_; }
  // The first rule that changed a value, or "".
  const std::string& ruleHit() const { return rule_hit_; }

 private:
  struct Field {
    size_t begin = 0, end = 0;  // bytes of the row, escapes and quotes included
  };
  // Where a scan of row bytes stands: inside a CSV quoted field, after an escape. The one rule
  // for finding rows (rowEnd) and fields (splitRow).
  struct ByteState {
    bool in_quotes = false;
    bool escaped = false;
    // Takes the next byte; true when it stands outside quotes and escapes, where a newline
    // ends the row and a delimiter the field.
    bool structural(char c, const policy::CopyOutFormat& f);
  };
  // Appends the row `row` (no terminator) to `*out`, masked; true when something changed.
  bool maskRow(std::string_view row, std::string* out);
  // Splits `row` (a complete row: quotes balanced) into fields_.
  void splitRow(std::string_view row);
  // The value a field holds (escapes and quotes resolved): `raw` itself when it has none, else
  // a view of decoded_; nullopt for NULL.
  std::optional<std::string_view> decode(std::string_view raw);
  void encode(std::string_view value, std::string* out) const;
  std::optional<std::string> maskValue(size_t index, std::string_view value);
  // Plans for rows of `count` fields (rows of one COPY all have the same count).
  void plan(size_t count);
  // Offset just past the end of the first complete row in `data` from `from` (terminator
  // included), or npos.
  size_t rowEnd(std::string_view data, size_t from);

  const policy::Masker* masker_;
  policy::CopyOutFormat format_;
  const policy::OutputLineage* lineage_;
  const TypeCatalog* catalog_;
  std::optional<policy::MaskerJsonValueMasker> json_fields_;
  std::vector<policy::ColumnPlan> plans_;  // one per field, for rows of plans_.size() fields
  bool header_pending_ = false;
  std::vector<Field> fields_;
  std::string decoded_;  // scratch for decode()
  std::string pending_;  // an unfinished row carried to the next payload
  ByteState row_scan_;   // where rowEnd() stopped at the end of pending_
  uint64_t rows_ = 0;
  uint64_t values_masked_ = 0;
  std::string rule_hit_;
};

}  // namespace tollgate::sidecar::postgres
