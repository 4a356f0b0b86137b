// Statement class names.
#include "policy/sql/facts.h"

namespace tollgate::policy {

std::string_view className(StatementClass c) {
  switch (c) {
    case StatementClass::kRead:
      return "read";
    case StatementClass::kWrite:
      return "write";
    case StatementClass::kDdl:
      return "ddl";
    case StatementClass::kAdmin:
      return "admin";
    case StatementClass::kTransaction:
      return "transaction";
    case StatementClass::kOther:
      return "other";
  }
  return "other";
}

bool parseClass(std::string_view name, StatementClass* out) {
  for (StatementClass c :
       {StatementClass::kRead, StatementClass::kWrite, StatementClass::kDdl, StatementClass::kAdmin,
        StatementClass::kTransaction, StatementClass::kOther}) {
    if (className(c) == name) {
      *out = c;
      return true;
    }
  }
  return false;
}

int classSeverity(StatementClass c) {
  switch (c) {
    case StatementClass::kRead:
      return 0;
    case StatementClass::kWrite:
      return 1;
    case StatementClass::kDdl:
      return 2;
    case StatementClass::kAdmin:
      return 3;
    default:
      return -1;
  }
}

}  // namespace tollgate::policy
