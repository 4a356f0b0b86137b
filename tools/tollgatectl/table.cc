// Table rendering and time formatting for tollgatectl output.
#include "tools/tollgatectl/table.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <google/protobuf/util/time_util.h>

namespace tollgate::ctl {

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), limits_(headers_.size(), 0) {}

void Table::limit(size_t index, size_t width) {
  if (index < limits_.size()) limits_[index] = width;
}

void Table::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  for (size_t i = 0; i < row.size(); ++i) {
    for (char& c : row[i]) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    if (limits_[i] > 3 && row[i].size() > limits_[i]) {
      row[i] = row[i].substr(0, limits_[i] - 3) + "...";
    }
  }
  rows_.push_back(std::move(row));
}

std::string Table::render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size()) l.append(width[i] - cells[i].size() + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

void Table::print() const {
  std::string text = render();
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string formatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  std::time_t secs = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string formatDuration(int64_t seconds) {
  if (seconds < 0) return "-" + formatDuration(-seconds);
  struct Unit {
    int64_t size;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  if (seconds == 0) return "0s";
  std::string out;
  int parts = 0;
  for (const auto& u : kUnits) {
    // Two units at most ("1h30m", not "1h30m5s"): enough to read, short enough to align.
    if (parts == 2) break;
    int64_t n = seconds / u.size;
    if (n == 0 && parts == 0) continue;
    if (n > 0) out += std::to_string(n) + u.name;
    seconds %= u.size;
    ++parts;
    if (seconds == 0) break;
  }
  return out;
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string formatRelative(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  int64_t delta = t.seconds() - nowSeconds();
  return delta >= 0 ? "in " + formatDuration(delta) : formatDuration(-delta) + " ago";
}

std::optional<google::protobuf::Timestamp> parseTime(const std::string& text) {
  google::protobuf::Timestamp t;
  if (!google::protobuf::util::TimeUtil::FromString(text, &t)) return std::nullopt;
  return t;
}

std::string enumWord(const std::string& name, const std::string& prefix) {
  std::string out = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace tollgate::ctl
