// Statement options in the parse tree (DefElem lists): booleans as PostgreSQL reads them, and
// the row format of COPY ... TO STDOUT.
#pragma once

#include <nlohmann/json.hpp>

#include "policy/sql/facts.h"

namespace tollgate::policy::sql {

// PostgreSQL's boolean option parsing (defGetBoolean) of a DefElem: no argument is true,
// unknown values count as true.
bool optionTrue(const nlohmann::json& defelem);

// The row format COPY ... TO STDOUT `options` (a CopyStmt's "options" list, nullable) ask for,
// PostgreSQL's defaults where not given. The values are string literals: a caller sharing facts
// across statements of one shape must not share these.
CopyOutFormat copyOutFormat(const nlohmann::json* options);

}  // namespace tollgate::policy::sql
