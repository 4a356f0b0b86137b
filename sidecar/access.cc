// Standalone access decisions from the local policy file.
#include "sidecar/access.h"

namespace tollgate::sidecar {

LocalAccessBroker::LocalAccessBroker(std::string subject, std::vector<std::string> groups)
    : identity_(policy::Identity::fromSubject(subject, std::move(groups))) {}

AccessDecision localAccess(const policy::CompiledPolicy& policy, const policy::Identity& identity,
                           const std::string& resource) {
  AccessDecision d;
  const policy::AccessRule* rule = policy.matchAccess(identity, resource);
  if (rule == nullptr) {
    d.refuse_reason = "tollgate: no access rule grants " +
                      (identity.subject.empty() ? std::string("this workload") : identity.subject) +
                      " access to resource " + resource;
  } else if (rule->approval == policy::Approval::kRequired) {
    // Standalone mode has nobody to approve the grant: fail closed.
    d.refuse_reason = "tollgate: access rule " + rule->name +
                      " requires an approved grant, and approvals need the control plane";
  } else {
    d.allowed = true;
    d.role = rule->role;
    d.access_rule = rule->name;
  }
  return d;
}

void LocalAccessBroker::acquire(const policy::CompiledPolicyPtr& policy,
                                const std::string& resource, AccessCallback done) {
  done(localAccess(*policy, identity_, resource));
}

void LocalAccessBroker::requestApproval(const StatementApprovalRequest&, ApprovalCallback done) {
  done(
      {false, "", "approval needs the control plane; in standalone mode the statement is refused"});
}

}  // namespace tollgate::sidecar
