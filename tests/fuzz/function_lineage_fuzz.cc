// Fuzz target for reading a function's definition (policy/sql/function_lineage.h): the text
// pg_get_functiondef returns, which comes from the server.
//
// Input: the first byte chooses whether the function returns a known row type (odd: fields
// holder, pan, cvv); the rest is the definition.
// Invariants (abort() on failure): a definition that does not parse leaves the result a whole
// row and may change tables; no call name is a column a rule could match by accident (isCallName()
// agrees with callName()); a name is never empty; nothing reads out of bounds (ASan build).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/function_lineage.h"
#include "tests/fuzz/fuzz_check.h"

using tollgate::fuzz::check;
namespace policy = tollgate::policy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tollgate::fuzz::beginInput("function_lineage_fuzz", in);
  if (in.empty()) return 0;
  static const std::vector<std::string> kFields = {"holder", "pan", "cvv"};
  const bool row_type = (static_cast<unsigned char>(in[0]) & 1) != 0;
  const policy::FunctionLineage l =
      policy::functionLineage(in.substr(1), row_type ? &kFields : nullptr);
  if (!l.parsed) {
    check(l.result.whole_row && l.result.reshaped, "unread means any column");
    check(l.may_change_tables, "unread means it may change tables");
  }
  check(!l.runs_ddl || l.may_change_tables, "DDL seen means it may change tables");
  for (const std::string& s : l.result.sources) {
    check(!s.empty(), "a source has a name");
    if (policy::isCallName(s)) {
      check(s.ends_with("()") ? policy::callName(s.substr(0, s.size() - 2)) == s
                              : policy::callValueName(s.substr(0, s.size() - 3)) == s,
            "call names round-trip");
    }
  }
  return 0;
}
