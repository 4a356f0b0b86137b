// Identities of callers and how access-rule subject entries match them (with wildcards).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/model.h"

namespace tollgate::policy {

// Who is asking. For Kubernetes workloads `subject` is "system:serviceaccount:NS:NAME" and
// namespace/service account are derived from it when left empty (see fromSubject).
struct Identity {
  std::string subject;
  std::string namespace_name;
  std::string service_account;  // the bare name, without the namespace
  std::vector<std::string> groups;

  // Builds an identity from a subject string, filling namespace and service account when the
  // subject has the Kubernetes service-account form.
  static Identity fromSubject(std::string_view subject, std::vector<std::string> groups = {});
};

// A subject as people type it (a flag, a config file): "NAMESPACE/NAME" (one slash, no colon)
// is short for the Kubernetes service account "system:serviceaccount:NAMESPACE:NAME"; anything
// else is taken as written. Where tollgatectl, the sidecar and the control plane's policy
// tester read a subject from a person, they read it alike.
std::string expandSubject(std::string_view subject);

// Glob match of the whole `text`: `*` matches any run (also empty), `?` one character. With
// `fold_case`, ASCII letters compare case-insensitively. Linear-time backtracking (one star
// remembered), so hostile patterns cannot blow up.
bool globMatch(std::string_view pattern, std::string_view text, bool fold_case = false);

// True when every key set in `spec` matches `id`. A spec with no key set matches nothing.
bool subjectMatches(const SubjectSpec& spec, const Identity& id);
// True when any entry matches. An empty list matches nothing.
bool anySubjectMatches(const std::vector<SubjectSpec>& specs, const Identity& id);

// Matches a qualified name ("schema.name" or "name") against a policy pattern: a pattern with
// a dot compares the whole name, a pattern without one compares only the last component, so
// "cards" catches "cards", "public.cards" and "other.cards". Case-insensitive, globs allowed.
bool qualifiedNameMatches(std::string_view pattern, std::string_view name);

}  // namespace tollgate::policy
