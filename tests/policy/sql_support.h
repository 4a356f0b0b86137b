// Test helpers for SQL facts: a row type and a readable dump of facts.
#pragma once

#include <string>
#include <vector>

#include "policy/sql/facts.h"

namespace tollgate::policy::testing {

using Names = std::vector<std::string>;

inline std::string join(const Names& names) {
  std::string out = "[";
  for (const auto& n : names) out += (out.size() > 1 ? "," : "") + n;
  return out + "]";
}

inline std::string copyDump(const StatementFacts& f) {
  if (!f.copy_out) return "";
  const CopyOutFormat& c = *f.copy_out;
  const char* kinds[] = {"text", "csv", "binary"};
  return std::string(" copy_out=") + kinds[static_cast<int>(c.kind)] + " delimiter=" + c.delimiter +
         " null=" + c.null_marker + " quote=" + c.quote + " escape=" + c.escape +
         " header=" + (c.header ? "true" : "false") +
         (c.encoding.empty() ? "" : " encoding=" + c.encoding) + (c.readable ? "" : " unreadable");
}

inline std::string dump(const StatementFacts& f) {
  return std::string(className(f.cls)) + " type=" + f.type + " reads=" + join(f.reads) +
         " writes=" + join(f.writes) + " functions=" + join(f.functions) +
         " has_where=" + (f.has_where ? "true" : "false") + " inner=" + join(f.inner_types) +
         " normalized=" + f.normalized + " fp=" + f.fingerprint + copyDump(f);
}

inline std::string dump(const QueryFacts& q) {
  if (!q.parsed) return "unparsed: " + q.error;
  std::string out;
  for (const auto& s : q.statements) out += dump(s) + "\n";
  return out;
}

}  // namespace tollgate::policy::testing
