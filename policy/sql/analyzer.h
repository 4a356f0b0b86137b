// Statement analysis with a per-thread cache keyed by a cheap normalisation of the text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/sql/facts.h"

namespace tollgate::policy {

// Analyses PostgreSQL query strings (PostgreSQL 15 grammar, standard_conforming_strings on).
// Thread-safe: every method may be called from many threads; results are immutable and shared.
//
// Caching: each thread keeps, per analyzer, a bounded shape cache (CLOCK eviction) keyed by
// the text with comments dropped, whitespace collapsed and plain string and number literals
// masked (sql_lexer.h), so `... WHERE id = 42` and `... WHERE id = 43` share one analysis.
// A hit returns exactly what a fresh analysis would: facts never depend on masked literal
// values (statements whose facts do, such as DO or EXPLAIN (ANALYZE <value>), are cached by
// exact text), and a shape is only shared after checking that its fingerprint does not move
// when the masked literals change. Texts that do not parse are never cached; texts longer than
// kMaxCachedBytes are analysed uncached.
class SqlAnalyzer {
 public:
  static constexpr size_t kMaxCachedBytes = 16 * 1024;

  // `cache_entries` bounds the shape cache (per thread); 0 disables caching.
  explicit SqlAnalyzer(size_t cache_entries = 4096);

  // Full analysis of `sql`. Never throws; unparseable text gives parsed == false.
  QueryFactsPtr analyze(std::string_view sql) const;

  // Analysis without the cache (for tests and the first-sight benchmark).
  static QueryFactsPtr analyzeUncached(std::string_view sql);

 private:
  size_t cache_entries_;
  uint64_t id_;  // names this analyzer's per-thread caches
};

}  // namespace tollgate::policy
