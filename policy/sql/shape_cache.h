// Bounded map from statement shape keys to analysis results, with CLOCK eviction.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include <cstdint>
#include <string>
#include <vector>

#include "policy/sql/facts.h"

namespace tollgate::policy::sql {

// Not thread-safe: the analyzer keeps one per thread.
class ShapeCache {
 public:
  struct Entry {
    QueryFactsPtr facts;
    // The shape is literal-sensitive: look the exact text up instead (facts is null).
    bool exact_only = false;
  };

  explicit ShapeCache(size_t capacity);

  // Returns the entry for `key` or nullptr; the pointer lives until the next insert().
  const Entry* find(absl::string_view key);
  // Inserts or replaces; evicts an entry not used since the clock hand last passed.
  void insert(absl::string_view key, Entry entry);
  size_t size() const { return index_.size(); }

 private:
  struct Slot {
    std::string key;
    Entry entry;
    bool referenced = false;
    bool used = false;
  };
  std::vector<Slot> slots_;  // never reallocated: the index holds views of the keys
  absl::flat_hash_map<absl::string_view, uint32_t> index_;
  size_t hand_ = 0;
  size_t filled_ = 0;
};

}  // namespace tollgate::policy::sql
