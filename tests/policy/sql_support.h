// Test helpers for SQL facts: a readable dump of facts, membership, a function definition.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "policy/sql/facts.h"

namespace tollgate::policy::testing {

using Names = std::vector<std::string>;

inline bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// A function's definition as pg_get_functiondef prints it.
inline std::string def(const std::string& signature, const std::string& language,
                       const std::string& body) {
  return "CREATE OR REPLACE FUNCTION public." + signature + "\n LANGUAGE " + language +
         "\nAS $function$" + body + "$function$\n";
}

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
