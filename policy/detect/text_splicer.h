// Copy-on-write rewriting of spans of a text, for scanners that usually change nothing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate::policy {

// Replaces spans of `text`, left to right, and copies nothing until the first replacement:
// finish() is nullopt when no span was replaced.
class TextSplicer {
 public:
  explicit TextSplicer(std::string_view text) : text_(text) {}

  // text[begin, end) becomes `with`; `begin` must not be before the end of the last span.
  void replace(size_t begin, size_t end, std::string_view with) {
    if (!out_) out_.emplace().reserve(text_.size());
    out_->append(text_.data() + copied_, begin - copied_);
    out_->append(with);
    copied_ = end;
  }

  // Where the text after the last replaced span starts (0 before any).
  size_t copied() const { return copied_; }

  std::optional<std::string> finish() {
    if (out_) out_->append(text_.data() + copied_, text_.size() - copied_);
    return std::move(out_);
  }

 private:
  std::string_view text_;
  std::optional<std::string> out_;
  size_t copied_ = 0;
};

}  // namespace tollgate::policy
