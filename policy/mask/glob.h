// Case-insensitive glob matching for column-name masking rules.
#pragma once

#include <string_view>

namespace tollgate::policy {

// True if `name` matches `pattern`, ASCII case-insensitively. `*` matches any run (including
// none), `?` exactly one byte; every other byte matches itself. Linear-time backtracking on the
// last `*`, so no pattern is exponential.
bool globMatch(std::string_view pattern, std::string_view name);

}  // namespace tollgate::policy
