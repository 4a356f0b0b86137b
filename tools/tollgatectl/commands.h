// Sub-command entry points of tollgatectl; main.cc dispatches on the first word.
#pragma once

#include <string>
#include <vector>

namespace tollgate::ctl {

// Each takes the words after its own name (e.g. for "tollgatectl policy check f.yaml":
// {"check", "f.yaml"}), prints results to stdout and errors to stderr, and returns the exit
// code: 0 success, 1 the operation reported a problem (invalid policy, failed verify, ...),
// 2 usage error, 3 cannot connect to the control plane or the token was not accepted.
int runPolicy(const std::vector<std::string>& args);
int runMask(const std::vector<std::string>& args);
int runHealth(const std::vector<std::string>& args);
int runLogin(const std::vector<std::string>& args);
int runLogout(const std::vector<std::string>& args);
int runGrants(const std::vector<std::string>& args);
int runApprovals(const std::vector<std::string>& args);
int runAudit(const std::vector<std::string>& args);
int runSessions(const std::vector<std::string>& args);

// Online policy sub-commands (policy_online_cmd.cc), reached through runPolicy: `name` is
// apply|get|history|rollback; returns -1 for any other name.
int runPolicyOnline(const std::string& name, const std::vector<std::string>& args);
// `policy test` without --policy: asks the control plane (PolicyService.Test).
int runPolicyTestOnline(const std::vector<std::string>& args);

}  // namespace tollgate::ctl
