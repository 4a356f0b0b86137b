// Fuzz target for the record text form (record_text.h) and column rules on composite fields in
// text form (composite_masking.h).
//
// Invariants (abort() on failure): field spans lie inside the input, in order, and cover it
// between the parentheses; the fields written back with appendRecordField() read back the
// same; a masked record of the sample type still reads as a record of its field count, with no
// cvv letter or digit left and the holder unchanged.
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/mask/masker.h"
#include "sidecar/postgres/composite_masking.h"
#include "sidecar/postgres/record_text.h"
#include "sidecar/postgres/type_catalog.h"
#include "sidecar/postgres/wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_maskers.h"

namespace {

using tollgate::fuzz::check;
namespace pg = tollgate::sidecar::postgres;
namespace policy = tollgate::policy;

std::string lengthPrefixed(std::string_view v) {
  char b[4];
  pg::storeU32(b, static_cast<uint32_t>(v.size()));
  return std::string(b, 4) + std::string(v);
}

using tollgate::fuzz::cvvMasker;

// (holder text, cvv text, inner (label text, cvv text)) as type 16410; inner is 16420.
const pg::TypeCatalog& sampleCatalog() {
  static const pg::TypeCatalog* catalog = [] {
    auto* c = new pg::TypeCatalog();
    const std::vector<std::vector<std::string>> rows = {
        {"c", "16410", "16409", "holder", "25", "1"},
        {"c", "16410", "16409", "cvv", "25", "1"},
        {"c", "16410", "16409", "inner", "16420", "1"},
        {"c", "16420", "16419", "label", "25", "1"},
        {"c", "16420", "16419", "cvv", "25", "1"}};
    for (const auto& row : rows) {
      std::string raw;
      for (const auto& v : row) raw += lengthPrefixed(v);
      c->addRow(pg::ValueList(static_cast<uint16_t>(row.size()), raw));
    }
    c->bindRules(cvvMasker());
    return c;
  }();
  return *catalog;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("record_text_fuzz", in);
  auto fields = pg::parseRecordText(in);
  if (fields) {
    check(!fields->empty(), "a record has at least one field");
    size_t at = 1;
    std::string rewritten = "(";
    for (size_t i = 0; i < fields->size(); ++i) {
      const pg::RecordTextField& f = (*fields)[i];
      check(f.begin == at && f.begin <= f.end && f.end < in.size(), "spans in order");
      check(in[f.end] == (i + 1 == fields->size() ? ')' : ','), "a span ends at a delimiter");
      check(f.value.has_value() == (f.begin != f.end), "only an empty span is NULL");
      at = f.end + 1;
      if (i > 0) rewritten += ',';
      if (f.value) pg::appendRecordField(rewritten, *f.value);
    }
    check(at == in.size(), "the spans cover the record");
    rewritten += ')';
    auto again = pg::parseRecordText(rewritten);
    check(again && again->size() == fields->size(), "written fields read back");
    for (size_t i = 0; again && i < again->size(); ++i) {
      check((*again)[i].value == (*fields)[i].value, "same values");
    }
  }

  std::string hit;
  bool failed = false;
  auto masked = pg::maskCompositeText(sampleCatalog(), cvvMasker(), 16410, in, &hit, &failed);
  if (failed) {
    check(!masked, "nothing returned for a value that is not the type's record");
    return 0;
  }
  check(fields && fields->size() == 3, "a masked record is one of three fields");
  if (!masked) return 0;
  auto out = pg::parseRecordText(*masked);
  check(out && out->size() == 3, "the masked record still reads");
  check((*out)[0].value == (*fields)[0].value, "holder unchanged");
  const auto& cvv = (*out)[1].value;
  bool redacted = true;
  for (char c : cvv.value_or(""))
    redacted = redacted && !std::isalnum(static_cast<unsigned char>(c));
  check(redacted, "cvv redacted (letters and digits gone)");
  return 0;
}
