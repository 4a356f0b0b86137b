// Fuzz target for reading COPY TO STDOUT rows back and masking them
// (sidecar/postgres/copy_masker.h): server bytes in the text or CSV row format.
//
// Input: one selector byte (bit 0: CSV; bit 1: header; bit 2: ';' delimiter; bit 3: a
// backslash escape distinct from the quote; bits 4-7: payload size 1..16, 0 = one payload), then
// the rows. Invariants (abort() on failure): the output does not depend on how the rows are
// split into payloads; masking the output again (a column rule only: redaction is stable) gives
// it back unchanged with as many rows, so every field was written back readable in its format.
// The card-number detector runs too, for crashes and sanitizer findings.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "policy/mask/masker.h"
#include "policy/sql/analyzer.h"
#include "sidecar/postgres/copy_masker.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tollgate::fuzz::check;
using tollgate::policy::CopyOutFormat;
using tollgate::policy::Masker;
using tollgate::policy::MaskingRuleSpec;
using tollgate::sidecar::postgres::CopyOutMasker;

std::shared_ptr<const Masker> makeMasker(bool detector) {
  std::vector<MaskingRuleSpec> rules;
  if (detector) {
    MaskingRuleSpec pan;
    pan.name = "pan";
    pan.detector = "pan";
    rules.push_back(pan);
  }
  MaskingRuleSpec cvv;
  cvv.name = "cvv";
  cvv.columns = {"cvv"};
  cvv.action.kind = tollgate::policy::MaskAction::Kind::kRedact;
  rules.push_back(cvv);
  auto m = Masker::compile(rules, {});
  if (!m.ok()) std::abort();
  return *m;
}

struct Pass {
  std::string out;
  uint64_t rows = 0;
  bool unfinished = false;  // finish() had a row left
};

Pass run(const Masker& masker, const tollgate::policy::StatementFacts& st, std::string_view data,
         size_t chunk) {
  CopyOutMasker m(&masker, *st.copy_out, &st.lineage);
  Pass p;
  std::string out;
  if (chunk == 0) chunk = data.size() + 1;
  for (size_t i = 0; i < data.size(); i += chunk) {
    const std::string_view piece = data.substr(i, chunk);
    p.out += m.maskData(piece, &out) ? out : std::string(piece);
  }
  const std::string rest = m.finish();
  p.unfinished = !rest.empty();
  p.out += rest;
  p.rows = m.rows();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("copy_out_fuzz", in);
  if (size == 0) return 0;
  static const auto column_only = makeMasker(false);
  static const auto with_detector = makeMasker(true);
  const uint8_t sel = data[0];
  std::string sql = "COPY cards (id, cvv, note) TO STDOUT (FORMAT ";
  sql += (sel & 1) != 0 ? "csv" : "text";
  if ((sel & 2) != 0) sql += ", HEADER";
  if ((sel & 4) != 0) sql += ", DELIMITER ';'";
  if ((sel & 1) != 0 && (sel & 8) != 0) sql += ", ESCAPE '\\'";
  sql += ")";
  auto facts = tollgate::policy::SqlAnalyzer::analyzeUncached(sql);
  check(facts->statements.size() == 1 && facts->statements[0].copy_out.has_value(), "facts");
  const auto& st = facts->statements[0];
  const size_t chunk = sel >> 4;
  const std::string_view rows = in.substr(1);

  const Pass whole = run(*column_only, st, rows, 0);
  const Pass split = run(*column_only, st, rows, chunk);
  check(whole.out == split.out, "output independent of payload boundaries");
  check(whole.rows == split.rows, "row count independent of payload boundaries");
  // A row the input left unfinished is masked whole by finish(): re-reading from there on
  // follows other rules, so the round trip is checked on inputs that end their last row.
  if (!whole.unfinished) {
    const Pass again = run(*column_only, st, whole.out, 0);
    check(again.out == whole.out, "masked output reads back and stays as it is");
    check(again.rows == whole.rows, "masked output keeps its rows");
  }
  run(*with_detector, st, rows, chunk);
  return 0;
}
