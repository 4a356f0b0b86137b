// Tests for claims -> Identity mapping, the bootstrap token, the Authenticator and its config.
#include <catch2/catch_test_macros.hpp>

#include <string>

#include "common/clock.h"
#include "controlplane/identity/authenticator.h"
#include "controlplane/identity/identity_mapper.h"
#include "tests/controlplane/jwt_test_signer.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::identity {
namespace {

using std::chrono::seconds;
using testing::Json;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kK8s[] = "https://kubernetes.default.svc";
constexpr char kIdp[] = "https://login.example.com";

Json podClaims(const std::string& pod, const std::string& uid) {
  return {{"iss", kK8s},
          {"sub", "system:serviceaccount:payments-ci:loader"},
          {"aud", Json::array({"tollgate"})},
          {"exp", kNow + 600},
          {"iat", kNow},
          {"kubernetes.io",
           {{"namespace", "payments-ci"},
            {"serviceaccount", {{"name", "loader"}, {"uid", "sa-uid-1"}}},
            {"pod", {{"name", pod}, {"uid", uid}}}}}};
}

TEST_CASE("workload token maps to a WORKLOAD identity keyed on the pod uid", "[identity][mapper]") {
  auto id = workloadIdentity(kK8s, podClaims("loader-x7k2p", "uid-1"));
  REQUIRE(id.ok());
  CHECK(id->kind() == v1::Identity::KIND_WORKLOAD);
  CHECK(id->issuer() == kK8s);
  CHECK(id->subject() == "system:serviceaccount:payments-ci:loader");
  CHECK(id->namespace_() == "payments-ci");
  CHECK(id->service_account() == "loader");
  CHECK(id->pod_name() == "loader-x7k2p");
  CHECK(id->pod_uid() == "uid-1");
  CHECK(id->principal_id() ==
        std::string(kK8s) + "|system:serviceaccount:payments-ci:loader|uid-1");
  CHECK(id->roles().empty());
}

TEST_CASE("two pods of one Job are two principals", "[identity][mapper]") {
  auto a = workloadIdentity(kK8s, podClaims("nightly-etl-abcde", "uid-a"));
  auto b = workloadIdentity(kK8s, podClaims("nightly-etl-fghij", "uid-b"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->subject() == b->subject());
  CHECK(a->principal_id() != b->principal_id());
}

TEST_CASE("workload claims that disagree or lack a pod are refused", "[identity][mapper]") {
  struct Case {
    const char* name;
    std::function<void(Json&)> edit;
    const char* part;
  };
  std::vector<Case> cases = {
      {"namespace mismatch", [](Json& c) { c["kubernetes.io"]["namespace"] = "payments-prod"; },
       "namespace does not match"},
      {"sa name mismatch", [](Json& c) { c["kubernetes.io"]["serviceaccount"]["name"] = "admin"; },
       "serviceaccount.name"},
      {"no pod binding", [](Json& c) { c["kubernetes.io"].erase("pod"); }, "not bound to a pod"},
      {"empty pod uid", [](Json& c) { c["kubernetes.io"]["pod"]["uid"] = ""; }, "not bound"},
      {"no kubernetes.io", [](Json& c) { c.erase("kubernetes.io"); }, "no \"kubernetes.io\""},
      {"human subject", [](Json& c) { c["sub"] = "alice"; }, "system:serviceaccount"},
      {"subject with extra colon", [](Json& c) { c["sub"] = "system:serviceaccount:a:b:c"; },
       "system:serviceaccount"},
      {"subject without name", [](Json& c) { c["sub"] = "system:serviceaccount:payments-ci:"; },
       "system:serviceaccount"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Json claims = podClaims("p", "u");
    c.edit(claims);
    auto id = workloadIdentity(kK8s, claims);
    REQUIRE_FALSE(id.ok());
    CHECK(std::string(id.status().message()).find(c.part) != std::string::npos);
  }
}

const std::map<std::string, std::vector<std::string>> kGroupRoles = {
    {"platform-admins", {"admin"}},
    {"dba", {"approver", "policy-editor"}},
    {"security", {"auditor", "approver"}}};

TEST_CASE("human groups map to roles through the table", "[identity][mapper]") {
  Json c = {{"sub", "00u1abc"},
            {"email", "alice@example.com"},
            {"preferred_username", "alice"},
            {"groups", {"dba", "security", "engineering"}}};
  auto id = humanIdentity(kIdp, c, "groups", kGroupRoles);
  REQUIRE(id.ok());
  CHECK(id->kind() == v1::Identity::KIND_HUMAN);
  CHECK(id->display_name() == "alice@example.com");
  CHECK(std::vector<std::string>(id->groups().begin(), id->groups().end()) ==
        std::vector<std::string>{"dba", "security", "engineering"});
  CHECK(std::vector<std::string>(id->roles().begin(), id->roles().end()) ==
        std::vector<std::string>{"approver", "auditor", "policy-editor"});
  CHECK(id->principal_id() == std::string(kIdp) + "|00u1abc");
  CHECK(id->pod_uid().empty());

  c.erase("email");
  c["roles_claim"] = "platform-admins";  // a custom claim name holding one string
  auto custom = humanIdentity(kIdp, c, "roles_claim", kGroupRoles);
  REQUIRE(custom.ok());
  CHECK(custom->display_name() == "alice");
  CHECK(std::vector<std::string>(custom->roles().begin(), custom->roles().end()) ==
        std::vector<std::string>{"admin"});

  Json none = {{"sub", "bob"}};
  auto bob = humanIdentity(kIdp, none, "groups", kGroupRoles);
  REQUIRE(bob.ok());
  CHECK(bob->roles().empty());
  CHECK(bob->display_name() == "bob");
  CHECK_FALSE(humanIdentity(kIdp, {{"sub", "x"}, {"groups", {1, 2}}}, "groups", kGroupRoles).ok());
  CHECK_FALSE(humanIdentity(kIdp, {{"email", "x@y"}}, "groups", kGroupRoles).ok());
}

TEST_CASE("bootstrap token: right secret, wrong secret, bad files", "[identity][bootstrap]") {
  testing::TempDir dir;
  const std::string secret(64, 'k');
  auto t = BootstrapToken::loadFile(dir.write("token", secret + "\n"));
  REQUIRE(t.ok());
  CHECK(t->matches(secret));
  CHECK_FALSE(t->matches(secret + "\n"));
  CHECK_FALSE(t->matches(secret.substr(1)));
  CHECK_FALSE(t->matches(std::string(63, 'k') + "j"));
  CHECK_FALSE(t->matches(""));
  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"empty", ""},
           {"newline only", "\n"},
           {"short", "tooshort"},
           {"inner space", std::string(20, 'a') + " " + std::string(20, 'b')}}) {
    INFO(name);
    auto bad = BootstrapToken::loadFile(dir.write("bad", content));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(bad.status().message()).find(dir.path().string()) != std::string::npos);
  }
  CHECK_FALSE(BootstrapToken::loadFile(dir.path() / "missing").ok());
}

TEST_CASE("Authenticator maps by issuer kind and knows the bootstrap admin", "[identity][auth]") {
  testing::TempDir dir;
  auto k8s_key = testing::newEcKey();
  auto idp_key = testing::newRsaKey();
  const std::string secret = "b0075trap-" + std::string(40, 'x');
  IdentityConfig cfg;
  cfg.issuers.push_back(
      {kK8s, PrincipalKind::kWorkload, "tollgate",
       dir.write("k8s.json", testing::jwksText({testing::publicJwk(k8s_key.get(), "k")}))});
  IssuerConfig idp;
  idp.issuer = kIdp;
  idp.kind = PrincipalKind::kHuman;
  idp.audience = "tollgate-cli";
  idp.jwks_file =
      dir.write("idp.json", testing::jwksText({testing::publicJwk(idp_key.get(), "i")}));
  cfg.issuers.push_back(idp);
  cfg.group_roles = kGroupRoles;
  cfg.bootstrap_token_file = dir.write("bootstrap", secret);
  auto clock = std::make_shared<ManualClock>(std::chrono::system_clock::time_point(seconds(kNow)));
  auto auth = Authenticator::create(cfg, clock);
  REQUIRE(auth.ok());

  auto w =
      (*auth)->authenticate(testing::mintJwt(k8s_key.get(), "ES256", "k", podClaims("p", "u")));
  REQUIRE(w.ok());
  CHECK(w->kind() == v1::Identity::KIND_WORKLOAD);

  Json human = {{"iss", kIdp},
                {"sub", "alice"},
                {"aud", "tollgate-cli"},
                {"exp", kNow + 300},
                {"groups", {"platform-admins"}}};
  auto h = (*auth)->authenticate(testing::mintJwt(idp_key.get(), "RS256", "i", human));
  REQUIRE(h.ok());
  CHECK(h->kind() == v1::Identity::KIND_HUMAN);
  CHECK(h->roles_size() == 1);

  // A human token presented with the workload audience is refused (audiences are per issuer).
  human["aud"] = "tollgate";
  CHECK_FALSE((*auth)->authenticate(testing::mintJwt(idp_key.get(), "RS256", "i", human)).ok());

  auto b = (*auth)->authenticate(secret);
  REQUIRE(b.ok());
  CHECK(b->kind() == v1::Identity::KIND_BOOTSTRAP);
  CHECK(b->roles(0) == "admin");
  auto wrong = (*auth)->authenticate(secret.substr(0, secret.size() - 1) + "y");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == absl::StatusCode::kUnauthenticated);

  cfg.bootstrap_token_file = dir.write("empty", "");
  CHECK_FALSE(Authenticator::create(cfg, clock).ok());
}

TEST_CASE("identity config validation and YAML reading", "[identity][config]") {
  auto read = [](const std::string& yaml, IdentityConfig& cfg) {
    YamlErrors errors("cp.yaml");
    auto node = parseYaml(yaml, "cp.yaml");
    REQUIRE(node.ok());
    YamlMap top(*node, errors, "controlplane config");
    readIdentityConfig(top, cfg);
    top.finish();
    return errors.toString();
  };
  IdentityConfig cfg;
  std::string errs = read(R"(
identity:
  leeway: 30s
  bootstrapTokenFile: /etc/tollgate/bootstrap
  groupRoles: {ops: [admin], dba: [approver, policy-editor]}
  issuers:
    - {issuer: "https://kubernetes.default.svc", kind: workload, jwksFile: /etc/k8s.json}
    - {issuer: "https://login.example.com", kind: human, audience: cli, discovery: true,
       caFile: /etc/ca.pem, groupsClaim: teams, refreshInterval: 10m}
)",
                          cfg);
  CHECK(errs.empty());
  CHECK(cfg.leeway == seconds(30));
  REQUIRE(cfg.issuers.size() == 2);
  CHECK(cfg.issuers[0].audience == "tollgate");
  CHECK(cfg.issuers[1].kind == PrincipalKind::kHuman);
  CHECK(cfg.issuers[1].groups_claim == "teams");
  CHECK(cfg.issuers[1].refresh_interval == seconds(600));
  CHECK(cfg.group_roles.at("dba").size() == 2);
  CHECK(validateIdentityConfig(cfg).ok());

  IdentityConfig bad;
  errs = read(
      "identity:\n  groupRoles: {ops: [root]}\n  issuers: [{issuer: x, kind: robot, "
      "colour: red}]\n",
      bad);
  CHECK(errs.find("unknown role \"root\"") != std::string::npos);
  CHECK(errs.find("colour") != std::string::npos);
  CHECK(errs.find("kind") != std::string::npos);

  IdentityConfig both = cfg;
  both.issuers[0].discovery = true;
  CHECK(std::string(validateIdentityConfig(both).message()).find("exactly one") !=
        std::string::npos);
  IdentityConfig twice = cfg;
  twice.issuers.push_back(cfg.issuers[0]);
  CHECK(std::string(validateIdentityConfig(twice).message()).find("listed twice") !=
        std::string::npos);
  IdentityConfig http = cfg;
  http.issuers[1].issuer = "http://login.example.com";
  CHECK_FALSE(validateIdentityConfig(http).ok());
  IdentityConfig role = cfg;
  role.group_roles["x"] = {"superuser"};
  CHECK_FALSE(validateIdentityConfig(role).ok());
}

}  // namespace
}  // namespace tollgate::controlplane::identity
