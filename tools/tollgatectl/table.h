// Aligned text tables and the time/duration formats tollgatectl prints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

namespace tollgate::ctl {

// Collects rows, then prints them with every column padded to its widest cell, two spaces
// between columns, header first. Cells longer than a column's limit are cut with "...".
// Control characters in cells are printed as spaces, so a value cannot break the layout.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Caps column `index` at `width` characters (default: unlimited).
  void limit(size_t index, size_t width);
  // Missing cells are blank; extra cells are ignored.
  void add(std::vector<std::string> row);
  size_t size() const { return rows_.size(); }
  // The whole table; no trailing spaces on any line.
  std::string render() const;
  // Prints render() to stdout.
  void print() const;

 private:
  std::vector<std::string> headers_;
  std::vector<size_t> limits_;
  std::vector<std::vector<std::string>> rows_;
};

// UTC RFC 3339 to the second ("2026-11-25T19:52:09Z"); "-" for an unset (zero) timestamp.
std::string formatTime(const google::protobuf::Timestamp& t);
// "45s", "15m", "1h30m", "2d3h"; negative durations get a leading "-".
std::string formatDuration(int64_t seconds);
// Relative to now: "in 14m59s" for the future, "3m ago" for the past, "-" when unset.
std::string formatRelative(const google::protobuf::Timestamp& t);
// Seconds since the epoch now.
int64_t nowSeconds();

// Parses an RFC 3339 time ("2026-11-25T19:52:09Z", offsets and fractions allowed).
std::optional<google::protobuf::Timestamp> parseTime(const std::string& text);

// Lower-case an enum name and strip a prefix: ("GRANT_ACTIVE", "GRANT_") -> "active".
std::string enumWord(const std::string& name, const std::string& prefix);

}  // namespace tollgate::ctl
