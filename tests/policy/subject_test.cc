// Tests of identities, glob matching and subject entries of access rules.
#include <string>

#include <catch2/catch_test_macros.hpp>

#include "policy/subject.h"

namespace tollgate::policy {
namespace {

TEST_CASE("fromSubject splits Kubernetes service-account subjects") {
  Identity id = Identity::fromSubject("system:serviceaccount:payments-ci:loader", {"g"});
  CHECK(id.namespace_name == "payments-ci");
  CHECK(id.service_account == "loader");
  CHECK(id.groups == std::vector<std::string>{"g"});
  Identity human = Identity::fromSubject("alice@example.com");
  CHECK(human.namespace_name.empty());
  CHECK(human.service_account.empty());
  CHECK(Identity::fromSubject("system:serviceaccount:ns").namespace_name.empty());
  CHECK(Identity::fromSubject("system:serviceaccount::x").namespace_name.empty());
}

// Docs review (session 25): `tollgatectl policy test --subject payments-ci/loader` matched the
// access rule while the sidecar given the same --subject refused it. Both read it through this.
TEST_CASE("a subject typed as NAMESPACE/NAME is the Kubernetes service account") {
  CHECK(expandSubject("payments-ci/loader") == "system:serviceaccount:payments-ci:loader");
  Identity id = Identity::fromSubject(expandSubject("payments-ci/loader"));
  CHECK(id.namespace_name == "payments-ci");
  CHECK(id.service_account == "loader");
  // Anything else as written.
  for (const char* as_written : {"system:serviceaccount:ns:sa", "alice@example.com", "a/b/c", "/sa",
                                 "ns/", "https://issuer.example/ns/sa", ""}) {
    CHECK(expandSubject(as_written) == as_written);
  }
}

TEST_CASE("globMatch") {
  struct Row {
    const char* pattern;
    const char* text;
    bool want;
  };
  for (const auto& r : std::initializer_list<Row>{
           {"*", "", true},
           {"*", "abc", true},
           {"a*", "abc", true},
           {"a*", "bac", false},
           {"*c", "abc", true},
           {"a?c", "abc", true},
           {"a?c", "ac", false},
           {"a*b*c", "aXXbYYc", true},
           {"a*b*c", "aXXbYY", false},
           {"abc", "abcd", false},
           {"", "", true},
           {"", "a", false},
           {"payments-*", "payments-ci", true},
           {"*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
       }) {
    INFO(r.pattern << " ~ " << r.text);
    CHECK(globMatch(r.pattern, r.text) == r.want);
  }
  CHECK_FALSE(globMatch("ABC", "abc"));
  CHECK(globMatch("ABC", "abc", true));
}

TEST_CASE("service-account wildcards") {
  Identity loader = Identity::fromSubject("system:serviceaccount:payments-ci:loader");
  Identity other = Identity::fromSubject("system:serviceaccount:batch:loader");
  Identity exporter = Identity::fromSubject("system:serviceaccount:payments-ci:exporter");
  SubjectSpec ns_any;
  ns_any.service_account = "payments-ci/*";
  SubjectSpec any_loader;
  any_loader.service_account = "*/loader";
  SubjectSpec exact;
  exact.service_account = "payments-ci/loader";
  CHECK(subjectMatches(ns_any, loader));
  CHECK(subjectMatches(ns_any, exporter));
  CHECK_FALSE(subjectMatches(ns_any, other));
  CHECK(subjectMatches(any_loader, loader));
  CHECK(subjectMatches(any_loader, other));
  CHECK_FALSE(subjectMatches(any_loader, exporter));
  CHECK(subjectMatches(exact, loader));
  CHECK_FALSE(subjectMatches(exact, exporter));
  // A namespace glob must not swallow the separator: "payments-ci/loader" is not in "payments".
  SubjectSpec prefix;
  prefix.service_account = "payments/*";
  CHECK_FALSE(subjectMatches(prefix, loader));
  // A human has no service account.
  CHECK_FALSE(subjectMatches(ns_any, Identity::fromSubject("alice@example.com")));
}

TEST_CASE("namespace, group and subject keys, AND within an entry, OR across entries") {
  Identity id = Identity::fromSubject("system:serviceaccount:batch:etl", {"dba", "oncall"});
  SubjectSpec ns;
  ns.namespace_name = "batch";
  SubjectSpec group;
  group.group = "dba";
  SubjectSpec both;
  both.namespace_name = "batch";
  both.group = "admins";
  SubjectSpec subject;
  subject.subject = "system:serviceaccount:batch:*";
  CHECK(subjectMatches(ns, id));
  CHECK(subjectMatches(group, id));
  CHECK_FALSE(subjectMatches(both, id));  // group does not match
  CHECK(subjectMatches(subject, id));
  CHECK_FALSE(subjectMatches(SubjectSpec{}, id));  // an empty entry matches nothing
  CHECK(anySubjectMatches({both, group}, id));
  CHECK_FALSE(anySubjectMatches({both}, id));
  CHECK_FALSE(anySubjectMatches({}, id));
  Identity human = Identity::fromSubject("alice@example.com", {"dba"});
  CHECK_FALSE(subjectMatches(ns, human));
  CHECK(subjectMatches(group, human));
}

TEST_CASE("qualified names: a pattern without a schema matches every schema") {
  CHECK(qualifiedNameMatches("cards", "cards"));
  CHECK(qualifiedNameMatches("cards", "public.cards"));
  CHECK(qualifiedNameMatches("CARDS", "other.cards"));
  CHECK_FALSE(qualifiedNameMatches("cards", "cardsx"));
  CHECK(qualifiedNameMatches("public.cards", "public.cards"));
  CHECK_FALSE(qualifiedNameMatches("public.cards", "cards"));
  CHECK(qualifiedNameMatches("pg_*", "pg_catalog.pg_read_file"));
  CHECK(qualifiedNameMatches("audit.*", "audit.events"));
  CHECK_FALSE(qualifiedNameMatches("audit.*", "events"));
}

}  // namespace
}  // namespace tollgate::policy
