// Statement analysis with a per-thread cache keyed by a cheap normalisation of the text.
#pragma once

#include <string_view>

#include "policy/sql/facts.h"

namespace tollgate::policy {

// Analyses PostgreSQL query strings. Thread-safe: every method may be called from many threads;
// results are immutable and shared.
class SqlAnalyzer {
 public:
  // `cache_entries` bounds the shape cache (per thread); 0 disables caching.
  explicit SqlAnalyzer(size_t cache_entries = 4096);

  // Full analysis of `sql`. Never throws; unparseable text gives parsed == false.
  QueryFactsPtr analyze(std::string_view sql) const;

  // Analysis without the cache (for tests and the first-sight benchmark).
  static QueryFactsPtr analyzeUncached(std::string_view sql);

 private:
  size_t cache_entries_;
};

}  // namespace tollgate::policy
