// CLOCK-evicted shape cache.
#include "policy/sql/shape_cache.h"

#include <utility>

namespace tollgate::policy::sql {

ShapeCache::ShapeCache(size_t capacity) : slots_(capacity == 0 ? 1 : capacity) {
  index_.reserve(slots_.size());
}

const ShapeCache::Entry* ShapeCache::find(absl::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  Slot& slot = slots_[it->second];
  slot.referenced = true;
  return &slot.entry;
}

void ShapeCache::insert(absl::string_view key, Entry entry) {
  if (auto it = index_.find(key); it != index_.end()) {
    slots_[it->second].entry = std::move(entry);
    slots_[it->second].referenced = true;
    return;
  }
  size_t victim;
  if (filled_ < slots_.size()) {
    victim = filled_++;
  } else {
    while (slots_[hand_].referenced) {
      slots_[hand_].referenced = false;
      hand_ = (hand_ + 1) % slots_.size();
    }
    victim = hand_;
    hand_ = (hand_ + 1) % slots_.size();
  }
  Slot& slot = slots_[victim];
  if (slot.used) index_.erase(absl::string_view(slot.key));
  slot.key.assign(key.data(), key.size());
  slot.entry = std::move(entry);
  slot.referenced = false;
  slot.used = true;
  index_.emplace(absl::string_view(slot.key), static_cast<uint32_t>(victim));
}

}  // namespace tollgate::policy::sql
