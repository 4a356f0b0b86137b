// Rewrites result-set messages for masking: DataRow values and RowDescription column types.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/buffer.h"

namespace tollgate::sidecar::postgres {

inline constexpr uint32_t kTextTypeOid = 25;

// Replacement for one DataRow column: nullopt keeps the original bytes.
using ColumnReplacement = std::optional<std::string_view>;

// Size (type byte included) of the DataRow appendRewrittenDataRow would write.
size_t rewrittenDataRowSize(const DataRow& row, std::span<const ColumnReplacement> replacements);

// Appends to `out` a complete DataRow message equal to `row` except that column i gets
// replacements[i] when that is set. NULL columns stay NULL whatever the replacement (masking
// never invents a value); columns past replacements.size() are kept; the message and value
// lengths are recomputed. Writes nothing and fails only when the result would not fit the
// protocol's Int32 lengths. `row` may view the caller's input buffer, but `out` must not be
// that same buffer.
absl::Status appendRewrittenDataRow(const DataRow& row,
                                    std::span<const ColumnReplacement> replacements,
                                    std::string* out);
absl::Status appendRewrittenDataRow(const DataRow& row,
                                    std::span<const ColumnReplacement> replacements, Buffer* out);

// Copies the RowDescription message `raw` (header included) with the columns listed in
// `text_columns` (0-based) described as text: type OID 25, typlen -1, typmod -1, format 0.
// Name, table OID and attribute number are kept, so the size is unchanged. The masker must
// then send those columns' DataRow values as text. Fails if raw is not a valid
// RowDescription or an index is out of range.
absl::StatusOr<std::string> rowDescriptionWithTextColumns(std::string_view raw,
                                                          std::span<const uint16_t> text_columns);

}  // namespace tollgate::sidecar::postgres
