// Sub-command entry points of tollgatectl; main.cc dispatches on the first word.
#pragma once

#include <string>
#include <vector>

namespace tollgate::ctl {

// Each takes the words after its own name (e.g. for "tollgatectl policy check f.yaml":
// {"check", "f.yaml"}), prints results to stdout and errors to stderr, and returns the exit
// code: 0 success, 1 the operation reported a problem (invalid policy, failed verify, ...),
// 2 usage error.
int runPolicy(const std::vector<std::string>& args);
int runMask(const std::vector<std::string>& args);
int runHealth(const std::vector<std::string>& args);

}  // namespace tollgate::ctl
