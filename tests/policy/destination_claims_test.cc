// Destination claims: one address:port per resource, by address rather than by spelling, a
// resource's own upstream counted as its destination, and the conflicts named.
#include "policy/destination_claims.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "policy/loader.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::policy;

namespace {

PolicyLoadResult load(const std::string& resources) {
  return loadPolicyText("version: 1\nresources:\n" + resources, "p.yaml");
}

std::string allErrors(const PolicyLoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e + "\n";
  return out;
}

// What names stand for in these tests, as a resolver would answer.
DestinationClaims::AddressesOf resolver(
    const std::map<std::string, std::vector<std::string>>& names) {
  return [names](const std::string& host) -> std::vector<std::string> {
    if (auto ip = canonicalAddress(host)) return {*ip};
    auto it = names.find(host);
    return it == names.end() ? std::vector<std::string>{} : it->second;
  };
}

// The name of the resource CompiledPolicy::resourceFor() gives, or "nobody".
std::string resourceFor(const PolicyLoadResult& r, const std::string& host, int port) {
  const Resource* found = r.policy->resourceFor(host, port);
  return found == nullptr ? "nobody" : found->name;
}

// The warnings about destinations two resources claim.
size_t claimWarnings(const PolicyLoadResult& r) {
  size_t n = 0;
  for (const auto& w : r.warnings) n += w.find("is already claimed by") != std::string::npos;
  return n;
}

std::string owner(const DestinationClaims& c, const std::string& address, int port) {
  auto found = c.find(address, port);
  if (found.conflict != nullptr) return "conflict";
  return found.claim == nullptr ? "nobody" : found.claim->resource;
}

// The collision the review found: `tollgatectl policy check` said ok, and the raw relay won.
constexpr char kLocalhostAndLoopback[] = R"(  - name: payments-db
    protocol: postgres
    upstream: {host: 10.1.1.1, port: 5432}
    match: {hosts: [localhost], ports: [5433]}
  - name: legacy-raw
    protocol: tcp
    upstream: {host: 10.1.1.2, port: 5432}
    match: {hosts: ["127.0.0.1"], ports: [5433]}
)";

}  // namespace

TEST_CASE("IP literals are compared in canonical form") {
  CHECK(canonicalAddress("10.0.0.5") == "10.0.0.5");
  CHECK(canonicalAddress("FD77:0:0::1") == "fd77::1");
  CHECK(canonicalAddress("[::1]") == "::1");
  CHECK(canonicalAddress("::ffff:127.0.0.1") == "127.0.0.1");
  CHECK(canonicalAddress("::FFFF:7f00:1") == "127.0.0.1");
  CHECK(canonicalAddress("127.1") == "127.0.0.1");  // as getaddrinfo reads it
  CHECK(canonicalAddress("0x7f.0.0.1") == "127.0.0.1");
  CHECK_FALSE(canonicalAddress("localhost").has_value());
  CHECK_FALSE(canonicalAddress("db.prod.svc").has_value());
  CHECK_FALSE(canonicalAddress("*.svc").has_value());
  CHECK_FALSE(canonicalAddress("").has_value());
}

TEST_CASE("a name and a literal that are one address are claimed twice: localhost vs 127.0.0.1") {
  auto r = load(kLocalhostAndLoopback);
  REQUIRE(r.ok());  // the text alone cannot tell: the sidecar checks with the names resolved
  auto claims = DestinationClaims::build(r.policy->document(),
                                         resolver({{"localhost", {"127.0.0.1", "::1"}}}));
  REQUIRE(claims.hasFatalConflict());
  std::string msg = claims.fatalMessage();
  CHECK_THAT(msg, ContainsSubstring("127.0.0.1:5433"));
  CHECK_THAT(msg, ContainsSubstring("'payments-db' (match.hosts localhost)"));
  CHECK_THAT(msg, ContainsSubstring("'legacy-raw' (match.hosts 127.0.0.1)"));
  CHECK(owner(claims, "127.0.0.1", 5433) == "conflict");
  CHECK(owner(claims, "::1", 5433) == "payments-db");
}

TEST_CASE("literal addresses claimed twice in different spellings are a policy error") {
  for (const auto& [a, b] :
       std::vector<std::pair<std::string, std::string>>{{"127.0.0.1", "\"::ffff:127.0.0.1\""},
                                                        {"\"FD77:0:0::1\"", "\"fd77::1\""},
                                                        {"127.0.0.1", "127.1"},
                                                        {"DB.prod.svc", "db.PROD.svc"}}) {
    DYNAMIC_SECTION(a << " vs " << b) {
      auto r = load(absl::StrCat(
          "  - name: one\n    protocol: postgres\n    upstream: {host: 10.1.1.1, port: 5432}\n"
          "    match: {hosts: [",
          a,
          "], ports: [5432]}\n  - name: two\n    protocol: tcp\n    upstream: {host: 10.1.1.2, "
          "port: 5432}\n    match: {hosts: [",
          b, "], ports: [5432]}\n"));
      INFO(allErrors(r));
      CHECK_FALSE(r.ok());
      CHECK_THAT(allErrors(r), ContainsSubstring("is already claimed by resource 'one'"));
      CHECK_THAT(allErrors(r), ContainsSubstring("resource 'two' (match.hosts"));
    }
  }
}

// With unknownDestination: passthrough, a job that dialled the database's real address got a
// raw relay: nothing claimed the upstream once the resource had a match section.
TEST_CASE("a resource's own upstream is its destination besides its match entries") {
  auto r = load(R"(  - name: payments-db
    protocol: postgres
    upstream: {host: db.prod.svc, port: 5432}
    match: {hosts: [10.0.0.5], ports: [6432]}
)");
  REQUIRE(r.ok());
  auto claims = DestinationClaims::build(r.policy->document(),
                                         resolver({{"db.prod.svc", {"10.9.9.9", "fd00::9"}}}));
  CHECK_FALSE(claims.hasFatalConflict());
  CHECK(owner(claims, "10.0.0.5", 6432) == "payments-db");
  CHECK(owner(claims, "10.9.9.9", 5432) == "payments-db");
  CHECK(owner(claims, "::ffff:10.9.9.9", 5432) == "payments-db");
  CHECK(owner(claims, "FD00::9", 5432) == "payments-db");
  CHECK(owner(claims, "10.9.9.9", 6432) == "nobody");  // the upstream's own port only
  CHECK(owner(claims, "10.0.0.5", 5432) == "nobody");
  CHECK(resourceFor(r, "DB.prod.svc", 5432) == "payments-db");
}

TEST_CASE("another resource's match on an upstream refuses the policy") {
  const std::string text = R"(  - name: payments-db
    protocol: postgres
    upstream: {host: 10.9.9.9, port: 5432}
    match: {hosts: [10.0.0.5], ports: [5432]}
  - name: raw
    protocol: tcp
    upstream: {host: 10.9.9.10, port: 5432}
    match: {hosts: [db.prod.svc], ports: [5432]}
)";
  auto r = load(text);
  REQUIRE(r.ok());
  auto claims =
      DestinationClaims::build(r.policy->document(), resolver({{"db.prod.svc", {"10.9.9.9"}}}));
  REQUIRE(claims.hasFatalConflict());
  CHECK_THAT(claims.fatalMessage(),
             ContainsSubstring("destination 10.9.9.9:5432 is already claimed by resource 'raw' "
                               "(match.hosts db.prod.svc); resource 'payments-db' (its upstream "
                               "10.9.9.9) claims it too"));
  // Both literal: the compiler sees it.
  auto literal = load(R"(  - name: payments-db
    protocol: postgres
    upstream: {host: 10.9.9.9, port: 5432}
    match: {hosts: [10.0.0.5], ports: [5432]}
  - name: raw
    protocol: tcp
    upstream: {host: 10.9.9.10, port: 5432}
    match: {hosts: ["::ffff:10.9.9.9"], ports: [5432]}
)");
  INFO(allErrors(literal));
  CHECK_FALSE(literal.ok());
  CHECK_THAT(allErrors(literal), ContainsSubstring("p.yaml:3:5: destination 10.9.9.9:5432 is "
                                                   "already claimed by resource 'raw'"));
}

// Review (session 24): a tcp resource sharing a gated resource's upstream was only a warning,
// but the job could dial the tcp resource's own match address and reach the database raw.
TEST_CASE("a raw resource on a gated resource's upstream refuses the policy") {
  auto r = load(R"(  - name: payments
    protocol: postgres
    upstream: {host: 10.9.9.9, port: 5432}
    database: payments
    match: {hosts: [10.0.0.5], ports: [5432]}
  - name: legacy-raw
    protocol: tcp
    upstream: {host: 10.9.9.9, port: 5432}
    match: {hosts: [10.0.0.7], ports: [5432]}
)");
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK(allErrors(r).find("destination 10.9.9.9:5432") != std::string::npos);
}

TEST_CASE("two resources on one upstream share it: a warning, and connections to it are refused") {
  auto r = load(R"(  - name: payments
    protocol: postgres
    upstream: {host: 10.9.9.9, port: 5432}
    database: payments
    match: {hosts: [10.0.0.5], ports: [5432]}
  - name: ledger
    protocol: postgres
    upstream: {host: 10.9.9.9, port: 5432}
    database: ledger
    match: {hosts: [10.0.0.6], ports: [5432]}
)");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  bool warned = false;
  for (const auto& w : r.warnings) {
    warned |= w.find(
                  "destination 10.9.9.9:5432 is already claimed by resource 'payments' (its "
                  "upstream 10.9.9.9); resource 'ledger' (its upstream 10.9.9.9) claims it "
                  "too: a connection to it is refused") != std::string::npos;
  }
  CHECK(warned);
  CHECK(resourceFor(r, "10.9.9.9", 5432) == "nobody");
  CHECK(resourceFor(r, "10.0.0.6", 5432) == "ledger");
  auto claims = DestinationClaims::build(r.policy->document(), resolver({}));
  CHECK_FALSE(claims.hasFatalConflict());
  REQUIRE(claims.find("10.9.9.9", 5432).conflict != nullptr);
  CHECK_FALSE(claims.find("10.9.9.9", 5432).conflict->fatal);
}

// Docs review (session 25): two databases of one server, neither with `match`, refused the
// policy (each claimed the upstream as a match); and the warning's advice, to list the address
// in one resource's match.hosts, refused it too.
TEST_CASE("two databases of one server without match load, and a match gives the server to one") {
  auto plain = load(R"(  - name: payments
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
    database: payments
  - name: ledger
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
    database: ledger
)");
  INFO(allErrors(plain));
  REQUIRE(plain.ok());
  CHECK(resourceFor(plain, "127.0.0.1", 5432) == "nobody");  // ambiguous: refused, warned
  CHECK(claimWarnings(plain) == 1);

  auto given = load(R"(  - name: payments
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
    database: payments
    match: {hosts: [127.0.0.1]}
  - name: ledger
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
    database: ledger
    match: {hosts: [10.0.0.6]}
)");
  INFO(allErrors(given));
  REQUIRE(given.ok());
  CHECK(claimWarnings(given) == 0);
  CHECK(resourceFor(given, "127.0.0.1", 5432) == "payments");
  CHECK(resourceFor(given, "10.0.0.6", 5432) == "ledger");
  auto claims = DestinationClaims::build(given.policy->document(), resolver({}));
  CHECK(claims.conflicts().empty());
  CHECK(owner(claims, "127.0.0.1", 5432) == "payments");
}

// Review (session 25): a match took another server's upstream silently; a job dialling that
// database's real address then reached the other server, its rules and credentials.
TEST_CASE("a match on the upstream of a resource on another server refuses the policy") {
  auto r = load(R"(  - name: payments
    protocol: postgres
    upstream: {host: 10.9.9.9, port: 5432}
  - name: sandbox
    protocol: postgres
    upstream: {host: 10.9.9.50, port: 5432}
    match: {hosts: [10.9.9.9]}
)");
  INFO(allErrors(r));
  CHECK_FALSE(r.ok());
  CHECK_THAT(allErrors(r), ContainsSubstring("destination 10.9.9.9:5432 is already claimed by "
                                             "resource 'sandbox' (match.hosts 10.9.9.9)"));
}

TEST_CASE(
    "one resource naming an address twice, patterns, and unresolved names claim no conflict") {
  auto r = load(R"(  - name: db
    protocol: postgres
    upstream: {host: localhost, port: 5432}
    match: {hosts: [localhost, 127.0.0.1, "*.db.internal", nowhere.invalid], ports: [5432]}
  - name: other
    protocol: postgres
    upstream: {host: 10.1.1.1, port: 5432}
    match: {hosts: ["*.db.internal"], ports: [5432]}
)");
  INFO(allErrors(r));
  REQUIRE(r.ok());
  auto claims =
      DestinationClaims::build(r.policy->document(), resolver({{"localhost", {"127.0.0.1"}}}));
  CHECK(claims.conflicts().empty());
  CHECK(owner(claims, "127.0.0.1", 5432) == "db");
  CHECK(owner(claims, "10.1.1.1", 5432) == "other");
}
