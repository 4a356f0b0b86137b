// PolicyService.Test: compile, decide, mask — the engine's dry run over gRPC.
#include "controlplane/policy_tester.h"

#include "policy/decision_proto.h"
#include "policy/engine.h"
#include "policy/loader.h"
#include "policy/subject.h"

namespace tollgate::controlplane {

using policy::toProtoDecision;

grpc::Status PolicyTester::test(const v1::TestPolicyRequest& req,
                                v1::TestPolicyResponse* resp) const {
  if (req.yaml().empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no policy is stored yet: pass the policy YAML to test");
  }
  policy::CompileOptions options;
  options.require_hash_key = false;
  options.read_hash_key = false;  // the sidecars' keys, not files or variables of ours
  auto loaded = policy::loadPolicyText(req.yaml(), "policy.yaml", options);
  if (!loaded.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(loaded.status().message()));
  }
  const policy::CompiledPolicy& compiled = *loaded.policy;
  if (compiled.resource(req.resource()) == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "the policy has no resource named '" + req.resource() + "'");
  }
  if (req.columns_size() != req.values_size()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "columns and values must have the same length");
  }
  policy::Identity id = policy::Identity::fromSubject(policy::expandSubject(req.subject()));
  policy::Role role = policy::Role::kRead;
  if (!req.role().empty()) {
    if (!policy::parseRole(req.role(), &role)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "role must be read, write or admin, got '" + req.role() + "'");
    }
  } else if (const auto* rule = compiled.matchAccess(id, req.resource())) {
    role = rule->role;
  }
  if (!req.sql().empty()) {
    auto facts = analyzer_.analyze(req.sql());
    policy::Verdict verdict = policy::decide(compiled, id, req.resource(), role, *facts);
    if (facts->statements.empty()) {
      auto* v = resp->add_statements();
      v->set_decision(toProtoDecision(verdict.decision));
      v->set_rule(verdict.rule);
      v->set_message(verdict.message);
    }
    for (size_t i = 0; i < facts->statements.size(); ++i) {
      const auto& st = facts->statements[i];
      const auto& sv = verdict.statements[i];
      auto* v = resp->add_statements();
      v->set_decision(toProtoDecision(sv.decision));
      v->set_rule(sv.rule);
      v->set_message(sv.message);
      v->set_statement_class(std::string(policy::className(st.cls)));
      v->set_statement_type(st.type);
      for (const auto& r : st.reads) v->add_relations_read(r);
      for (const auto& w : st.writes) v->add_relations_written(w);
      for (const auto& f : st.functions) v->add_functions(f);
      v->set_normalized(st.normalized);
      v->set_fingerprint(st.fingerprint);
    }
  }
  policy::MaskerPtr masker = compiled.masker(req.resource());
  for (int i = 0; i < req.values_size(); ++i) {
    policy::ColumnPlan plan = masker->planColumn(req.columns(i));
    std::string rule;
    auto masked = masker->maskValue(plan, req.values(i), &rule);
    resp->add_masked_values(masked ? *masked : req.values(i));
    resp->add_masking_rules(rule);
  }
  return grpc::Status::OK;
}

}  // namespace tollgate::controlplane
