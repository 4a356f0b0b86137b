// SQL analysis cost: first sight (uncached) and repeated shapes with varying literals (cached).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "policy/sql/analyzer.h"

namespace {

using tollgate::policy::SqlAnalyzer;

const char* const kShapes[] = {
    // 0: simple select by id
    "SELECT id, name, pan FROM cards WHERE id = %d",
    // 1: join
    "SELECT c.id, c.pan, a.balance FROM cards c JOIN accounts a ON a.id = c.account_id "
    "WHERE a.branch = %d AND c.status = 'active' ORDER BY c.id LIMIT 50",
    // 2: insert with 10 values
    "INSERT INTO events (a, b, c, d, e, f, g, h, i, j) VALUES "
    "(%d, 'x', 2, 'y', 3.5, 'z', 4, 'w', 5, 'v')",
    // 3: pgbench-style update
    "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = 12345",
};

std::string render(int shape, int value) {
  std::string out = kShapes[shape];
  const size_t pos = out.find("%d");
  out.replace(pos, 2, std::to_string(value));
  return out;
}

void BM_FirstSight(benchmark::State& state) {
  const std::string sql = render(static_cast<int>(state.range(0)), 42);
  for (auto _ : state) {
    auto facts = SqlAnalyzer::analyzeUncached(sql);
    benchmark::DoNotOptimize(facts);
  }
  state.SetLabel(kShapes[state.range(0)]);
}
BENCHMARK(BM_FirstSight)->DenseRange(0, 3);

// Cache-missing analysis through analyze(): uncached cost plus the shape-stability check.
void BM_CacheMiss(benchmark::State& state) {
  const std::string sql = render(static_cast<int>(state.range(0)), 42);
  for (auto _ : state) {
    SqlAnalyzer analyzer(16);  // fresh cache every time
    auto facts = analyzer.analyze(sql);
    benchmark::DoNotOptimize(facts);
  }
}
BENCHMARK(BM_CacheMiss)->DenseRange(0, 3);

void BM_Cached(benchmark::State& state) {
  SqlAnalyzer analyzer;
  std::vector<std::string> texts;
  for (int v = 0; v < 1024; ++v) texts.push_back(render(static_cast<int>(state.range(0)), v));
  analyzer.analyze(texts[0]);
  size_t i = 0;
  for (auto _ : state) {
    auto facts = analyzer.analyze(texts[i++ & 1023]);
    benchmark::DoNotOptimize(facts);
  }
}
BENCHMARK(BM_Cached)->DenseRange(0, 3);

}  // namespace

BENCHMARK_MAIN();
