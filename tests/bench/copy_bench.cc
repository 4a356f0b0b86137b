// Cost of masking COPY TO STDOUT rows (sidecar/postgres/copy_masker.h) per row: text and CSV,
// rows without card numbers (the common case: every field scanned, none changed) and rows with
// one card number and a cvv column each.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "policy/mask/masker.h"
#include "policy/sql/analyzer.h"
#include "sidecar/postgres/copy_masker.h"

namespace {

using tollgate::policy::Masker;
using tollgate::policy::MaskingRuleSpec;
using tollgate::sidecar::postgres::CopyOutMasker;

constexpr int kRows = 1000;

std::shared_ptr<const Masker> benchMasker() {
  MaskingRuleSpec pan;
  pan.name = "pan";
  pan.detector = "pan";
  MaskingRuleSpec cvv;
  cvv.name = "cvv";
  cvv.columns = {"cvv"};
  cvv.action.kind = tollgate::policy::MaskAction::Kind::kRedact;
  auto m = Masker::compile({pan, cvv}, {});
  if (!m.ok()) std::abort();
  return *m;
}

// One CopyData payload per row, as PostgreSQL sends them.
std::vector<std::string> rows(bool csv, bool cards) {
  std::vector<std::string> out;
  const char d = csv ? ',' : '\t';
  for (int i = 0; i < kRows; ++i) {
    std::string r = std::to_string(100000 + i);
    r += d;
    r += "holder " + std::to_string(i);
    r += d;
    r += cards ? "4111111111111111" : "no card here";
    r += d;
    r += std::to_string(100 + i % 900);  // the cvv column
    r += d;
    r += "2024-01-15 10:30:00";
    r += '\n';
    out.push_back(std::move(r));
  }
  return out;
}

void maskRows(benchmark::State& state, bool csv, bool cards) {
  static const auto masker = benchMasker();
  auto facts = tollgate::policy::SqlAnalyzer::analyzeUncached(
      csv ? "COPY cards (id, holder, pan, cvv, created) TO STDOUT (FORMAT csv)"
          : "COPY cards (id, holder, pan, cvv, created) TO STDOUT");
  const auto& st = facts->statements.at(0);
  const auto input = rows(csv, cards);
  std::string out;
  for (auto _ : state) {
    CopyOutMasker m(masker.get(), *st.copy_out, &st.lineage);
    for (const auto& r : input) benchmark::DoNotOptimize(m.maskData(r, &out));
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}

void BM_CopyText_NoCards(benchmark::State& s) { maskRows(s, false, false); }
void BM_CopyText_Cards(benchmark::State& s) { maskRows(s, false, true); }
void BM_CopyCsv_NoCards(benchmark::State& s) { maskRows(s, true, false); }
void BM_CopyCsv_Cards(benchmark::State& s) { maskRows(s, true, true); }

}  // namespace

BENCHMARK(BM_CopyText_NoCards);
BENCHMARK(BM_CopyText_Cards);
BENCHMARK(BM_CopyCsv_NoCards);
BENCHMARK(BM_CopyCsv_Cards);
BENCHMARK_MAIN();
