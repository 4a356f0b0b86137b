// DataRow and RowDescription rewriting: one size pass, then one write into the output.
#include "sidecar/postgres/row_rewriter.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

namespace {

constexpr size_t kMaxLength = static_cast<size_t>(std::numeric_limits<int32_t>::max());

// Writes the rewritten row into dst, which holds exactly `size` bytes.
void writeRow(const DataRow& row, std::span<const ColumnReplacement> replacements, char* dst,
              size_t size) {
  char* p = dst;
  *p++ = 'D';
  storeU32(p, static_cast<uint32_t>(size - 1));
  p += 4;
  storeU16(p, row.columns.size());
  p += 2;
  size_t i = 0;
  for (ValueList::Value value : row.columns) {
    if (!value) {
      storeU32(p, 0xffffffffu);
      p += 4;
    } else {
      std::string_view bytes = *value;
      if (i < replacements.size() && replacements[i]) bytes = *replacements[i];
      storeU32(p, static_cast<uint32_t>(bytes.size()));
      p += 4;
      if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
      p += bytes.size();
    }
    ++i;
  }
}

absl::Status checkSize(const DataRow& row, std::span<const ColumnReplacement> replacements,
                       size_t size) {
  if (size - 1 > kMaxLength) return absl::OutOfRangeError("rewritten DataRow is too large");
  for (size_t i = 0; i < replacements.size() && i < row.columns.size(); ++i) {
    if (replacements[i] && replacements[i]->size() > kMaxLength) {
      return absl::OutOfRangeError("replacement value is too large");
    }
  }
  return absl::OkStatus();
}

}  // namespace

size_t rewrittenDataRowSize(const DataRow& row, std::span<const ColumnReplacement> replacements) {
  size_t size = kHeaderSize + 2;
  size_t i = 0;
  for (ValueList::Value value : row.columns) {
    size += 4;
    if (value) {
      size +=
          (i < replacements.size() && replacements[i]) ? replacements[i]->size() : value->size();
    }
    ++i;
  }
  return size;
}

absl::Status appendRewrittenDataRow(const DataRow& row,
                                    std::span<const ColumnReplacement> replacements,
                                    std::string* out) {
  size_t size = rewrittenDataRowSize(row, replacements);
  if (absl::Status s = checkSize(row, replacements, size); !s.ok()) return s;
  size_t at = out->size();
  out->resize(at + size);
  writeRow(row, replacements, out->data() + at, size);
  return absl::OkStatus();
}

absl::Status appendRewrittenDataRow(const DataRow& row,
                                    std::span<const ColumnReplacement> replacements, Buffer* out) {
  size_t size = rewrittenDataRowSize(row, replacements);
  if (absl::Status s = checkSize(row, replacements, size); !s.ok()) return s;
  writeRow(row, replacements, out->writable(size), size);
  out->commit(size);
  return absl::OkStatus();
}

absl::StatusOr<std::string> rowDescriptionWithTextColumns(std::string_view raw,
                                                          std::span<const uint16_t> text_columns) {
  if (raw.size() < kHeaderSize || raw[0] != 'T' || loadU32(raw.data() + 1) != raw.size() - 1) {
    return absl::InvalidArgumentError("not a RowDescription message");
  }
  absl::StatusOr<BackendBody> body = parseBackendBody('T', raw.substr(kHeaderSize));
  if (!body.ok()) return body.status();
  const auto& desc = std::get<RowDescription>(*body);
  for (uint16_t c : text_columns) {
    if (c >= desc.count) return absl::OutOfRangeError("RowDescription column out of range");
  }
  std::string out(raw);
  // Walk the copy: each field is a NUL-terminated name then kFieldFixedSize bytes.
  size_t pos = kHeaderSize + 2;
  for (uint16_t i = 0; i < desc.count; ++i) {
    pos = out.find('\0', pos) + 1;
    if (std::find(text_columns.begin(), text_columns.end(), i) != text_columns.end()) {
      char* f = out.data() + pos;
      storeU32(f + 6, kTextTypeOid);                // after table oid (4) and attnum (2)
      storeU16(f + 10, static_cast<uint16_t>(-1));  // typlen
      storeU32(f + 12, 0xffffffffu);                // typmod
      storeU16(f + 16, 0);                          // format: text
    }
    pos += kFieldFixedSize;
  }
  return out;
}

}  // namespace tollgate::sidecar::postgres
