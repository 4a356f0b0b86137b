// `tollgatectl policy check|test`: offline validation of a policy and a dry run of statements.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/flags.h"
#include "policy/engine.h"
#include "policy/loader.h"
#include "policy/sql/analyzer.h"
#include "policy/subject.h"
#include "tools/tollgatectl/commands.h"

namespace tollgate::ctl {
namespace {

using policy::Identity;

constexpr const char* kUsage =
    "usage: tollgatectl policy check FILE...\n"
    "       tollgatectl policy test --policy FILE --resource NAME [--role read|write|admin]\n"
    "                               [--subject SUBJECT] [--group G]... --sql TEXT\n"
    "       tollgatectl policy test --resource NAME [--role R] [--subject S] --sql TEXT\n"
    "                               (online: the control plane's current policy)\n"
    "       tollgatectl policy apply FILE [--comment TEXT] [--dry-run] [--expected-version N]\n"
    "       tollgatectl policy get [--version N]\n"
    "       tollgatectl policy history [--limit N]\n"
    "       tollgatectl policy rollback VERSION [--comment TEXT]\n";

// True when the words contain --policy: `policy test` then runs offline on that file.
bool hasPolicyFlag(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--policy" || a.rfind("--policy=", 0) == 0) return true;
    if (a == "--") break;
  }
  return false;
}

// Loads for offline use: a hash key that is not on this machine is a warning, not an error.
policy::PolicyLoadResult loadOffline(const std::string& file) {
  policy::CompileOptions opts;
  opts.require_hash_key = false;
  return policy::loadPolicyFile(file, opts);
}

void printProblems(const policy::PolicyLoadResult& r) {
  for (const auto& w : r.warnings) std::cerr << w << "\n";
  for (const auto& e : r.errors) std::cerr << e << "\n";
}

int runCheck(const std::vector<std::string>& files) {
  if (files.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  int rc = 0;
  for (const auto& f : files) {
    auto r = loadOffline(f);
    printProblems(r);
    if (!r.ok()) {
      rc = 1;
      continue;
    }
    const auto& d = r.policy->document();
    std::cout << f << ": ok (" << d.resources.size() << " resources, " << d.access.size()
              << " access rules, " << d.guardrails.size() << " guardrails, "
              << d.masking.rules.size() << " masking rules)\n";
  }
  return rc;
}

// "ns/name" is short for a Kubernetes service account; anything else is a subject string.
Identity identityFrom(const std::string& subject, std::vector<std::string> groups) {
  return Identity::fromSubject(policy::expandSubject(subject), std::move(groups));
}

nlohmann::json approversJson(const policy::Approvers& a) {
  return {{"group", a.group}, {"count", a.count}, {"timeout_seconds", a.timeout_seconds}};
}

int runTest(const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> specs = {
      {"policy", true, false, "policy file"},
      {"resource", true, false, "resource name"},
      {"role", true, false, "read|write|admin (default: from the matching access rule, else read)"},
      {"subject", true, false, "identity: NAMESPACE/SERVICEACCOUNT or a subject string"},
      {"group", true, true, "a group of the identity (repeatable)"},
      {"sql", true, false, "the query text"},
      {"help", false, false, "show this help"},
  };
  std::vector<const char*> argv = {"test"};
  for (const auto& a : args) argv.push_back(a.c_str());
  auto flags = Flags::parse(static_cast<int>(argv.size()), argv.data(), 1, specs);
  if (!flags.ok()) {
    std::cerr << "tollgatectl policy test: " << flags.status().message() << "\n" << kUsage;
    return 2;
  }
  if (flags->has("help")) {
    std::cout << kUsage << Flags::usage(specs);
    return 0;
  }
  if (!flags->has("policy") || !flags->has("resource") || !flags->has("sql") ||
      !flags->positional().empty()) {
    std::cerr << "tollgatectl policy test: --policy, --resource and --sql are required\n" << kUsage;
    return 2;
  }
  std::optional<policy::Role> role;
  if (auto r = flags->get("role")) {
    policy::Role parsed;
    if (!policy::parseRole(*r, &parsed)) {
      std::cerr << "tollgatectl policy test: --role must be read, write or admin\n";
      return 2;
    }
    role = parsed;
  }
  auto loaded = loadOffline(*flags->get("policy"));
  printProblems(loaded);
  if (!loaded.ok()) return 1;
  const policy::CompiledPolicy& pol = *loaded.policy;
  std::string resource = *flags->get("resource");
  if (pol.resource(resource) == nullptr) {
    std::cerr << "tollgatectl policy test: unknown resource '" << resource << "'\n";
    return 2;
  }
  Identity id = identityFrom(flags->getOr("subject", ""), flags->all("group"));
  std::string role_source = "flag";
  if (!role) {
    const policy::AccessRule* rule = pol.matchAccess(id, resource);
    role = rule ? rule->role : policy::Role::kRead;
    role_source = rule ? "access:" + rule->name : "default";
  }
  auto facts = policy::SqlAnalyzer::analyzeUncached(*flags->get("sql"));
  policy::Verdict v = policy::decide(pol, id, resource, *role, *facts);

  nlohmann::json base = {{"query_decision", std::string(policy::decisionName(v.decision))},
                         {"role", std::string(policy::roleName(*role))},
                         {"role_source", role_source}};
  if (!facts->parsed || facts->statements.empty()) {
    nlohmann::json j = base;
    j["decision"] = std::string(policy::decisionName(v.decision));
    j["rule"] = v.rule;
    j["message"] = v.message;
    if (!facts->parsed) j["error"] = facts->error;
    if (v.approvers) j["approvers"] = approversJson(*v.approvers);
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  for (size_t i = 0; i < facts->statements.size(); ++i) {
    const auto& st = facts->statements[i];
    const auto& sv = v.statements[i];
    nlohmann::json j = base;
    j["statement"] = i + 1;
    j["decision"] = std::string(policy::decisionName(sv.decision));
    j["rule"] = sv.rule;
    j["message"] = sv.message;
    if (sv.approvers) j["approvers"] = approversJson(*sv.approvers);
    j["class"] = std::string(policy::className(st.cls));
    j["type"] = st.type;
    j["reads"] = st.reads;
    j["writes"] = st.writes;
    j["functions"] = st.functions;
    j["has_where"] = st.has_where;
    j["normalized"] = st.normalized;
    j["fingerprint"] = st.fingerprint;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace

int runPolicy(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "check") return runCheck(rest);
  if (args[0] == "test") return hasPolicyFlag(rest) ? runTest(rest) : runPolicyTestOnline(rest);
  if (int rc = runPolicyOnline(args[0], rest); rc >= 0) return rc;
  std::cerr << "tollgatectl policy: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}

}  // namespace tollgate::ctl
