// Fuzz target for masking inside binary arrays/records (structured_values.h).
//
// Input: 4 bytes of type OID selector, then the value bytes. Invariants (abort() on failure):
// with a length-preserving leaf the output keeps the input's length; an output differs from its
// input; the call is deterministic. A second part builds a well-formed array of records from the
// input (text fields cut at '|') and checks that after masking every text leaf is PAN-free.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/detect/pan.h"
#include "policy/mask/masker.h"
#include "sidecar/postgres/pg_types.h"
#include "sidecar/postgres/structured_values.h"
#include "sidecar/postgres/type_catalog.h"
#include "sidecar/postgres/wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tollgate::fuzz::check;

namespace pg = tollgate::sidecar::postgres;

// Same-length leaf: text scrubbed, numbers zero-masked.
std::optional<std::string> leaf(uint32_t type_oid, std::string_view b) {
  if (pg::shapeOf(type_oid) == pg::ValueShape::kBigNumber) {
    auto text = pg::binaryToText(type_oid, b);
    if (!text || !tollgate::policy::containsPan(*text)) return std::nullopt;
    std::string m = tollgate::policy::scrubPans(*text);
    for (char& c : m) c = c == '*' ? '0' : c;
    auto back = pg::textToBinary(type_oid, m);
    if (back && back->size() != b.size()) return std::nullopt;  // keep the length invariant
    return back;
  }
  if (!tollgate::policy::containsPan(b)) return std::nullopt;
  return tollgate::policy::scrubPans(b);
}

constexpr uint32_t kTypes[] = {1009, 1016, 1231, 2249, 2287, 3807, 17,  25,  16390, 16389,
                               1007, 3926, 3906, 4536, 3927, 600,  602, 604, 5069,  16400};

std::string lengthPrefixed(std::string_view v) {
  char b[4];
  pg::storeU32(b, static_cast<uint32_t>(v.size()));
  return std::string(b, 4) + std::string(v);
}

const pg::TypeCatalog& sampleCatalog() {
  static const pg::TypeCatalog* catalog = [] {
    auto* c = new pg::TypeCatalog();
    const std::vector<std::vector<std::string>> rows = {{"d", "16400", "20", "", "", "1"},
                                                        {"c", "16390", "16389", "cvv", "25", "1"},
                                                        {"c", "16390", "16389", "n", "16400", "1"}};
    for (const auto& row : rows) {
      std::string raw;
      for (const auto& v : row) raw += lengthPrefixed(v);
      c->addRow(pg::ValueList(static_cast<uint16_t>(row.size()), raw));
    }
    return c;
  }();
  return *catalog;
}

std::string i32(int32_t v) {
  char b[4];
  pg::storeU32(b, static_cast<uint32_t>(v));
  return std::string(b, 4);
}

// A well-formed array (of user row type 16390, OID 16389) of one-field records, one per
// '|'-separated piece of `text`.
std::string buildRows(std::string_view text, std::vector<std::string>* pieces) {
  size_t start = 0;
  while (start <= text.size() && pieces->size() < 64) {
    size_t bar = text.find('|', start);
    if (bar == std::string_view::npos) bar = text.size();
    pieces->emplace_back(text.substr(start, bar - start));
    start = bar + 1;
  }
  std::string out =
      i32(1) + i32(0) + i32(16390) + i32(static_cast<int32_t>(pieces->size())) + i32(1);
  for (const std::string& p : *pieces) {
    const std::string rec = i32(1) + i32(25) + i32(static_cast<int32_t>(p.size())) + p;
    out += i32(static_cast<int32_t>(rec.size())) + rec;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("binary_value_fuzz", in);
  if (size >= 1) {
    const uint32_t type_oid = kTypes[static_cast<uint8_t>(in[0]) % std::size(kTypes)];
    const std::string_view value = in.substr(1);
    auto out = pg::maskBinaryValue(type_oid, value, leaf);
    if (out) {
      check(out->size() == value.size(), "same-length leaves keep the value's length");
      check(*out != value, "a rewrite changes something");
    }
    check(pg::maskBinaryValue(type_oid, value, leaf) == out, "deterministic");
    // With the database's types: 16390 is a composite (cvv text, n domain-over-int8), 16400
    // that domain. A cvv field comes back redacted or NULL, never with its old bytes.
    auto field = [&](std::string_view name, uint32_t, std::string_view bytes) {
      if (name != "cvv") return pg::FieldMask{};
      return bytes.size() % 2 ? pg::FieldMask{true, std::nullopt}
                              : pg::FieldMask{true, std::string(bytes.size(), '*')};
    };
    const pg::FieldMasker fields(field);
    const pg::DatabaseTypes types{&sampleCatalog(), &fields};
    auto typed = pg::maskBinaryValue(type_oid, value, leaf, types);
    check(pg::maskBinaryValue(type_oid, value, leaf, types) == typed, "deterministic with types");
    if (typed) check(*typed != value, "a rewrite changes something");
  }

  std::vector<std::string> pieces;
  const std::string rows = buildRows(in, &pieces);
  auto masked = pg::maskBinaryValue(16389, rows, leaf);
  const std::string& result = masked ? *masked : rows;
  // Decoding again must see the same structure, now with PAN-free text leaves.
  size_t leaves = 0;
  auto again = pg::maskBinaryValue(16389, result, [&](uint32_t type_oid, std::string_view b) {
    check(type_oid == 25, "leaf type survives");
    check(!tollgate::policy::containsPan(b), "no card number left in a leaf");
    ++leaves;
    return std::optional<std::string>();
  });
  check(!again, "masked rows need no second pass");
  check(leaves == pieces.size(), "every record is still decoded");
  return 0;
}
