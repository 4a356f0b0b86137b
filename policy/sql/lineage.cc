// Lookups of result-column lineage for masking (the walker that builds it is lineage_walker.cc).
#include "policy/sql/lineage.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace tollgate::policy {

void addLineageName(std::vector<std::string>* names, std::string_view name) {
  if (name.empty()) return;
  if (std::find(names->begin(), names->end(), name) == names->end()) names->emplace_back(name);
}

std::string callName(std::string_view name) {
  std::string out(name);
  out += "()";
  return out;
}

void addCallNamesOfListed(std::vector<std::string>* names, std::string_view function) {
  anyReading(function, [names](std::string_view reading) {
    addLineageName(names, callName(reading));
    return false;
  });
}

std::string callValueName(std::string_view name) {
  std::string out(name);
  out += "()*";
  return out;
}

bool isCallName(std::string_view name) {
  return (name.size() > 2 && name.ends_with("()")) || (name.size() > 3 && name.ends_with("()*"));
}

std::optional<std::string_view> calledFunction(std::string_view name) {
  if (name.size() <= 2 || !name.ends_with("()")) return std::nullopt;
  return name.substr(0, name.size() - 2);
}

void mergeLineage(ColumnLineage* into, const ColumnLineage& from) {
  for (const std::string& s : from.sources) addLineageName(&into->sources, s);
  into->whole_row = into->whole_row || from.whole_row;
  into->reshaped = into->reshaped || from.reshaped;
}

namespace {

constexpr size_t kMaxNames = 512;  // closure size bound: a pathological statement stays cheap

void addName(std::vector<std::string>* v, std::string_view name) { addLineageName(v, name); }

// Adds `name` as written and lower-cased (the server names a column as written; the parser
// folds unquoted names).
void addSeed(std::vector<std::string>* names, std::string_view name) {
  addName(names, absl::AsciiStrToLower(std::string(name)));
  addName(names, name);
}

// Adds to `names` everything they were renamed from; renames may chain (z <- a <- cvv), so
// sources found are expanded in turn.
void expand(const std::vector<std::pair<std::string, ColumnLineage>>& renames,
            std::vector<std::string>* names, bool* whole_row, bool* reshaped) {
  for (size_t i = 0; i < names->size(); ++i) {
    if (names->size() >= kMaxNames) {
      *whole_row = *reshaped = true;  // not followed to the end: it may be any column
      return;
    }
    if (holdsOtherColumnsValues((*names)[i])) *whole_row = *reshaped = true;
    for (const auto& [alias, lineage] : renames) {
      if (alias != (*names)[i]) continue;
      for (const std::string& s : lineage.sources) addName(names, s);
      if (lineage.whole_row) *whole_row = true;
      if (lineage.reshaped) *reshaped = true;
    }
  }
}

}  // namespace

bool holdsOtherColumnsValues(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "most_common_vals", "most_common_elems", "histogram_bounds", "stavalues1", "stavalues2",
      "stavalues3",       "stavalues4",        "stavalues5",       "classid",    "objid"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

std::vector<std::string> OutputLineage::closure(std::string_view name, bool* whole_row,
                                                bool* reshaped) const {
  bool ignored = false;
  std::vector<std::string> names;
  addSeed(&names, name);
  expand(renames, &names, whole_row, reshaped != nullptr ? reshaped : &ignored);
  return names;
}

std::vector<std::string> OutputLineage::namesFor(size_t index, size_t count, std::string_view name,
                                                 bool* whole_row, bool* reshaped) const {
  bool ignored = false;
  if (reshaped == nullptr) reshaped = &ignored;
  ColumnLineage mine;
  if (known) {
    const size_t listed = head.size() + tail.size();
    if (!star && head.size() == count && index < count) {
      mine = head[index];
    } else if (star && listed <= count) {
      if (index < head.size()) {
        mine = head[index];
      } else if (index >= count - tail.size()) {
        mine = tail[index - (count - tail.size())];
      } else if (name.empty()) {
        mine.whole_row = true;  // expanded by `*`, and no server name (COPY): any column
      } else {
        // A column the `*` expanded to: the server's name is the column's own, or one the
        // server chose for something unnamed.
        mine = unnamed;
      }
    } else {
      for (const ColumnLineage& c : head) mergeLineage(&mine, c);
      for (const ColumnLineage& c : tail) mergeLineage(&mine, c);
    }
  }
  if (mine.whole_row || opaque) *whole_row = true;
  if (mine.reshaped || opaque) *reshaped = true;
  std::vector<std::string> names;
  addSeed(&names, name);
  for (const std::string& s : mine.sources) addSeed(&names, s);
  expand(renames, &names, whole_row, reshaped);
  return names;
}

}  // namespace tollgate::policy
