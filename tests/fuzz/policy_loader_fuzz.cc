// Fuzz target for the policy loader: arbitrary bytes as policy YAML must never crash, and every
// policy the loader accepts must have compiled into a usable object.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/engine.h"
#include "policy/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate::policy;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CompileOptions opts;
  opts.require_hash_key = false;
  PolicyLoadResult r = loadPolicyText(text, "fuzz.yaml", opts);
  if (r.ok() != r.errors.empty()) std::abort();
  if (!r.ok()) return 0;
  // Accepted: the compiled object must answer every query without failing.
  const CompiledPolicy& p = *r.policy;
  QueryFacts q;
  StatementFacts st;
  st.cls = StatementClass::kWrite;
  st.type = "delete";
  st.has_where = false;
  st.writes = {"public.cards"};
  st.normalized = "DELETE FROM public.cards";
  q.statements = {st, st};
  Identity id = Identity::fromSubject("system:serviceaccount:ns:sa", {"dba"});
  for (const auto& res : p.document().resources) {
    if (p.resource(res.name) != &res) std::abort();
    if (p.masker(res.name) == nullptr) std::abort();
    (void)p.matchAccess(id, res.name);
    (void)p.resourceFor(res.upstream.host, res.upstream.port);
    Verdict v = decide(p, id, res.name, Role::kAdmin, q);
    if (v.statements.size() != 2) std::abort();
    (void)p.masker(res.name)->maskText("card 4111 1111 1111 1111 cvv 123");
  }
  if (p.guardrails().size() != p.document().guardrails.size()) std::abort();
  if (p.allRulesMasker() == nullptr) std::abort();
  return 0;
}
