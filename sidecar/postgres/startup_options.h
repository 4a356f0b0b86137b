// The `options` startup parameter (PGOPTIONS, libpq's `options=`): command-line switches for
// the server backend. The sidecar lets through the run-time settings it makes (`-c name=value`,
// `--name=value`) when the grant's role may change them, and refuses every other switch.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tollgate::sidecar::postgres {

// Splits `options` as PostgreSQL does (pg_split_opts): runs of whitespace separate arguments,
// a backslash makes the next character part of the argument.
std::vector<std::string> splitStartupOptions(std::string_view options);

// The settings (name, value) `options` makes, names with '-' read as '_' as PostgreSQL does.
// InvalidArgument, naming the switch, for anything else (-B, -d, -F, a -c without value...).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> startupOptionSettings(
    std::string_view options);

}  // namespace tollgate::sidecar::postgres
