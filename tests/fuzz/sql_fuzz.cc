// Fuzz target: SQL analysis never crashes, the shape cache agrees with fresh analysis (stored
// columns included), the masking.copies check runs on every statement, and changing the values of
// masked literals never changes a statement's class or relations.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/engine.h"
#include "policy/sql/analyzer.h"
#include "policy/sql/sql_lexer.h"
#include "tests/fuzz/fuzz_maskers.h"

namespace {

using tollgate::policy::QueryFacts;
using tollgate::policy::SqlAnalyzer;

std::string columns(const std::vector<tollgate::policy::ColumnLineage>& list) {
  std::string out;
  for (const auto& c : list) {
    for (const auto& s : c.sources) out += s + ",";
    out += c.whole_row ? "w" : "-";
    out += c.reshaped ? "r/" : "-/";
  }
  return out;
}

// Result-column lineage, as masking reads it.
std::string lineage(const tollgate::policy::OutputLineage& l) {
  if (!l.known) return "?";
  std::string out =
      columns(l.head) + (l.star ? "*" : "") + columns(l.tail) + "u" + columns({l.unnamed}) + "r";
  for (const auto& [name, c] : l.renames) out += name + "=" + columns({c});
  out += "s";
  for (const auto& [name, c] : l.stored) out += name + "=" + columns({c});
  out += "t";
  for (const auto& [index, tables] : l.star_tables) {
    out += std::to_string(index) + ":";
    for (const auto& t : tables) out += t + ",";
  }
  out += "b";
  for (size_t index : l.bare_stores) out += std::to_string(index) + ",";
  return out;
}

// The facts a cache hit must reproduce.
std::string summary(const QueryFacts& q) {
  if (!q.parsed) return "unparsed";
  std::string out;
  for (const auto& s : q.statements) {
    out += std::string(tollgate::policy::className(s.cls)) + "|" + s.type + "|";
    for (const auto& r : s.reads) out += r + ",";
    out += "|";
    for (const auto& w : s.writes) out += w + ",";
    out += "|";
    for (const auto& f : s.functions) out += f + ",";
    out += s.has_where ? "|w|" : "|-|";
    out += s.normalized + "|" + s.fingerprint + "|" + lineage(s.lineage) + "|" +
           s.sets_client_encoding.value_or("-") + ";";
  }
  return out;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SqlAnalyzer analyzer(256);
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto fresh = SqlAnalyzer::analyzeUncached(sql);
  const auto cached = analyzer.analyze(sql);
  const auto again = analyzer.analyze(sql);
  check(summary(*fresh) == summary(*cached));
  check(summary(*fresh) == summary(*again));
  if (fresh->parsed) {
    for (const auto& s : fresh->statements) {
      check(!s.type.empty());
      // masking.copies: a refusal never quotes more than a rule and a column name.
      const std::string why = tollgate::policy::unmaskedCopy(tollgate::fuzz::cvvMasker(), s);
      check(why.size() < 400);
    }
  } else {
    check(!fresh->error.empty());
  }

  // Same shape, other literal values: a cache hit must equal a fresh analysis of that text.
  std::string key;
  std::vector<tollgate::policy::sql::LiteralSpan> spans;
  if (fresh->parsed && tollgate::policy::sql::shapeKey(sql, &key, &spans) && !spans.empty()) {
    for (int variant = 0; variant < 2; ++variant) {
      const std::string other = tollgate::policy::sql::substituteLiterals(sql, spans, variant);
      const auto other_fresh = SqlAnalyzer::analyzeUncached(other);
      const auto other_cached = analyzer.analyze(other);
      check(summary(*other_fresh) == summary(*other_cached));
    }
  }
  return 0;
}
