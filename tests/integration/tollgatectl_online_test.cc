// Drives the real tollgatectl against the real tollgate-controlplane: login, policy life cycle,
// grants with approvals by a second person, audit search/export/verify, sessions, role checks.
#include <sys/stat.h>

#include <csignal>
#include <thread>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/tollgatectl_online_harness.h"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;

namespace tollgate::testing {
namespace {

constexpr const char* kPolicy = R"(version: 1
resources:
  - name: payments-db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432, tls: disable}
access:
  - name: ci-read
    subjects: [{serviceAccount: "payments-ci/*"}]
    resources: [payments-db]
    role: read
    maxDuration: 15m
    approval: none
  - name: datafix-write
    subjects: [{serviceAccount: "payments-ops/*"}]
    resources: [payments-db]
    role: write
    maxDuration: 30m
    approval: required
    approvers: {group: dba, count: 1, timeout: 10m}
guardrails:
  - {name: no-ddl, match: {class: [ddl]}, action: block, message: "DDL is not allowed"}
masking:
  rules:
    - {name: pan, detector: pan, action: {type: pci, keepFirst: 6, keepLast: 4}}
)";

unsigned fileMode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Applies kPolicy as the bootstrap admin; returns that admin.
User adminWithPolicy(const ControlPlaneUnderTest& cp) {
  User admin = loginAs(cp, "admin", cp.bootstrapToken());
  std::string file = cp.dir().write("policy.yaml", kPolicy);
  RunResult r = admin({"policy", "apply", file, "--comment", "initial"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return admin;
}

TEST_CASE("login checks server and token and saves them in a 0600 file") {
  ControlPlaneUnderTest cp;
  std::string config = (cp.dir().path() / "cfg" / "ctl.yaml").string();
  RunResult r = ctlWith(config, {"login", "--server", cp.server(), "--token", cp.bootstrapToken()});
  INFO(r.err << cp.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, ContainsSubstring("logged in to " + cp.server() + " (plaintext)"));
  CHECK(fileMode(config) == 0600);
  CHECK_THAT(slurp(config), ContainsSubstring(cp.bootstrapToken()));
  // The saved login is used by later commands without any flag.
  CHECK(ctlWith(config, {"policy", "history"}).exit_code == 0);

  // A config file others can read is refused, like ssh does with keys.
  ::chmod(config.c_str(), 0644);
  RunResult open = ctlWith(config, {"policy", "history"});
  CHECK(open.exit_code == 2);
  CHECK_THAT(open.err, ContainsSubstring("too open"));
  ::chmod(config.c_str(), 0600);

  RunResult out = ctlWith(config, {"logout"});
  CHECK(out.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(config));
  RunResult none = ctlWith(config, {"policy", "history"});
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.err, ContainsSubstring("no control plane"));
}

TEST_CASE("bad tokens and unreachable servers exit 3 and save nothing") {
  ControlPlaneUnderTest cp;
  std::string config = (cp.dir().path() / "bad-ctl.yaml").string();
  RsaSigner stranger("test-key-1");  // same kid, key the control plane does not know
  long now = static_cast<long>(std::time(nullptr));
  std::string forged = stranger.mint({{"iss", kIssuer},
                                      {"sub", "user-mallory"},
                                      {"aud", kAudience},
                                      {"groups", {"sec-admins"}},
                                      {"exp", now + 3600}});
  for (const std::string& token : {std::string("not-a-token"), forged, cp.bootstrapToken() + "x"}) {
    RunResult r = ctlWith(config, {"login", "--server", cp.server(), "--token", token});
    INFO(token);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("tollgatectl: login: UNAUTHENTICATED: "));
    CHECK_FALSE(std::filesystem::exists(config));
    // Same for any online command given the token directly.
    RunResult list = ctlWith(config, {"grants", "list", "--server", cp.server(), "--token", token});
    CHECK(list.exit_code == 3);
    CHECK_THAT(list.err, StartsWith("tollgatectl: grants list: UNAUTHENTICATED: "));
  }
  RunResult down =
      ctlWith(config, {"policy", "get", "--server", "127.0.0.1:" + std::to_string(freePort()),
                       "--token", "t", "--timeout", "3s"});
  CHECK(down.exit_code == 3);
  CHECK_THAT(down.err, StartsWith("tollgatectl: policy get: UNAVAILABLE: cannot reach"));
}

TEST_CASE("TLS: --ca verifies the control plane; a foreign CA or plaintext is refused") {
  ControlPlaneUnderTest cp(/*tls=*/true);
  std::string config = (cp.dir().path() / "tls-ctl.yaml").string();
  std::vector<std::string> login = {"login", "--server", cp.server(), "--token",
                                    cp.bootstrapToken()};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = login;
    args.insert(args.end(), extra.begin(), extra.end());
    return ctlWith(config, args);
  };
  RunResult foreign = with({"--ca", cp.pki().other_ca_cert});
  CHECK(foreign.exit_code == 3);
  CHECK_THAT(foreign.err, StartsWith("tollgatectl: login: UNAVAILABLE: cannot reach "));
  // Loopback without --ca means plaintext, which a TLS port does not speak.
  CHECK(with({"--timeout", "3s"}).exit_code == 3);
  CHECK_FALSE(std::filesystem::exists(config));

  RunResult ok = with({"--ca", cp.pki().ca_cert});
  INFO(ok.err << cp.log());
  REQUIRE(ok.exit_code == 0);
  CHECK_THAT(ok.out, ContainsSubstring("(TLS)"));
  CHECK_THAT(slurp(config), ContainsSubstring(cp.pki().ca_cert));
  // The saved CA is used again; a different server name does not get the saved token.
  CHECK(ctlWith(config, {"grants", "list"}).exit_code == 0);
  RunResult other = ctlWith(config, {"grants", "list", "--server", "localhost:1"});
  CHECK(other.exit_code == 3);
}

TEST_CASE("policy apply, get, history, rollback and the online dry run") {
  ControlPlaneUnderTest cp;
  User admin = loginAs(cp, "alice", cp.humanToken("alice", {"sec-admins"}));
  User auditor = loginAs(cp, "carol", cp.humanToken("carol", {"auditors"}));

  // Invalid: every error with FILE:LINE:COL, nothing stored, exit 1.
  std::string bad = cp.dir().write("bad.yaml",
                                   "version: 1\nresources:\n  - name: db\n"
                                   "    protocol: postgress\n"
                                   "    upstream: {host: h, port: 5432, tsl: x}\n");
  RunResult invalid = admin({"policy", "apply", bad});
  CHECK(invalid.exit_code == 1);
  CHECK_THAT(invalid.err, ContainsSubstring(bad + ":4:15: resource.protocol must be one of"));
  CHECK_THAT(invalid.err, ContainsSubstring(bad + ":5:37: unknown key 'tsl' in upstream"));

  std::string v1 = cp.dir().write("v1.yaml", kPolicy);
  RunResult dry = admin({"policy", "apply", v1, "--dry-run"});
  INFO(dry.err);
  CHECK(dry.exit_code == 0);
  CHECK(dry.out == v1 + ": valid (dry run: nothing applied)\n");
  RunResult empty_history = admin({"policy", "history", "--json"});
  CHECK(empty_history.exit_code == 0);
  CHECK(jsonLines(empty_history.out).empty());

  RunResult a1 = admin({"policy", "apply", v1, "--comment", "first"});
  INFO(a1.err);
  REQUIRE(a1.exit_code == 0);
  CHECK_THAT(a1.out, StartsWith(v1 + ": applied as version 1 "));
  std::string v2_text = std::string(kPolicy) + "# second revision\n";
  std::string v2 = cp.dir().write("v2.yaml", v2_text);
  // A stale --expected-version is refused and stores nothing.
  RunResult stale = admin({"policy", "apply", v2, "--expected-version", "7"});
  CHECK(stale.exit_code == 1);
  CHECK_THAT(stale.err, StartsWith("tollgatectl: policy apply: "));
  REQUIRE(
      admin({"policy", "apply", v2, "--comment", "second", "--expected-version", "1"}).exit_code ==
      0);

  RunResult get = admin({"policy", "get"});
  CHECK(get.exit_code == 0);
  CHECK(get.out == v2_text);
  CHECK(admin({"policy", "get", "--version", "1"}).out == kPolicy);
  RunResult history = admin({"policy", "history"});
  CHECK(history.exit_code == 0);
  CHECK(std::regex_search(history.out,
                          std::regex(R"(\n2 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ .*second)")));
  CHECK(std::regex_search(history.out, std::regex(R"(\n1 +\d{4}-.*first\n)")));

  RunResult rollback = admin({"policy", "rollback", "1", "--comment", "undo"});
  INFO(rollback.err);
  CHECK(rollback.exit_code == 0);
  CHECK_THAT(rollback.out, StartsWith("rolled back to version 1: now version 3 "));
  CHECK(admin({"policy", "get"}).out == kPolicy);
  auto versions = jsonLines(admin({"policy", "history", "--json"}).out);
  REQUIRE(versions.size() == 3);
  CHECK(versions[0]["version"] == "3");         // uint64 is a string in the JSON mapping
  CHECK(versions[0]["rolledBackFrom"] == "2");  // the version current before the rollback
  CHECK(std::regex_search(admin({"policy", "history"}).out,
                          std::regex(R"(\n3 +.*rollback.* 1.*undo\n)")));
  CHECK(admin({"policy", "rollback", "99"}).exit_code == 1);

  // Dry run of a statement against the server's current policy.
  RunResult test = auditor({"policy", "test", "--resource", "payments-db", "--subject",
                            "system:serviceaccount:payments-ci:loader", "--role", "admin", "--sql",
                            "DROP TABLE cards", "--json"});
  INFO(test.err);
  REQUIRE(test.exit_code == 0);
  auto verdict = jsonLines(test.out);
  REQUIRE(verdict.size() == 1);
  CHECK(verdict[0]["statements"][0]["decision"] == "DECISION_BLOCK");
  CHECK(verdict[0]["statements"][0]["rule"] == "guardrail:no-ddl");
  RunResult table =
      auditor({"policy", "test", "--resource", "payments-db", "--sql", "SELECT * FROM cards"});
  CHECK(table.exit_code == 0);
  CHECK(std::regex_search(table.out, std::regex(R"(\n1 +allow +)")));

  // An auditor may read the policy but not change it.
  CHECK(auditor({"policy", "get"}).exit_code == 0);
  RunResult denied = auditor({"policy", "apply", v2});
  CHECK(denied.exit_code == 1);
  CHECK_THAT(denied.err, StartsWith("tollgatectl: policy apply: PERMISSION_DENIED: "));
  CHECK(auditor({"policy", "rollback", "2"}).exit_code == 1);
  CHECK(admin({"policy", "history", "--json"}).out.find("\"version\":\"4\"") == std::string::npos);
}

// The JSON decision of `grants request`.
Json requestGrant(const User& who, const std::string& subject, const std::string& role) {
  RunResult r = who({"grants", "request", "--subject", subject, "--resource", "payments-db",
                     "--role", role, "--duration", "10m", "--reason", "ticket PAY-1", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = jsonLines(r.out);
  REQUIRE(lines.size() == 1);
  return lines[0];
}

bool listed(const RunResult& r, const std::string& id, const std::string& state) {
  if (std::regex_search(r.out, std::regex(id + " .* " + state + " "))) return true;
  UNSCOPED_INFO(id << " not listed as " << state << "; exit " << r.exit_code << ", stdout:\n"
                   << r.out << "stderr:\n"
                   << r.err);
  return false;
}

TEST_CASE("grants need a second person's approval; deny, revoke and auto-grant") {
  ControlPlaneUnderTest cp;
  adminWithPolicy(cp);
  User alice = loginAs(cp, "alice", cp.humanToken("alice", {"sec-admins"}));
  User bob = loginAs(cp, "bob", cp.humanToken("bob", {"dba"}));

  Json pending = requestGrant(alice, "system:serviceaccount:payments-ops:datafix-1", "write");
  REQUIRE(pending["outcome"] == "PENDING_APPROVAL");
  std::string grant = pending["grant"]["id"];
  std::string approval = pending["grant"]["approvalId"];
  REQUIRE_FALSE(approval.empty());

  // The requester cannot approve her own request.
  RunResult self = alice({"approvals", "approve", approval});
  CHECK(self.exit_code == 1);
  CHECK_THAT(self.err, StartsWith("tollgatectl: approvals approve: "));

  RunResult list = bob({"approvals", "list"});
  INFO(list.err);
  CHECK(list.exit_code == 0);
  CHECK(listed(list, approval, "pending"));
  RunResult watch = bob({"approvals", "watch", "--timeout", "2s"});
  CHECK(watch.exit_code == 0);
  CHECK(std::regex_search(watch.out, std::regex(approval + "  pending  grant  payments-db")));

  // A watcher started before the vote prints the pending approval, then the decision.
  Process watcher(
      {binPath("tollgatectl"), "approvals", "watch"}, (cp.dir().path() / "watch.log").string(),
      {{"TOLLGATE_CONFIG", bob.config}, {"TOLLGATE_SERVER", ""}, {"TOLLGATE_TOKEN", ""}});
  CHECK(
      eventually([&] { return watcher.log().find(approval + "  pending") != std::string::npos; }));
  RunResult ok = bob({"approvals", "approve", approval, "--comment", "looks fine"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, StartsWith("approval " + approval + ": approved (1/1 approvals)"));
  CHECK(eventually([&] {
    return std::regex_search(watcher.log(), std::regex(approval + "  approved  grant .* 1/1 "));
  }));
  watcher.stop(SIGTERM);
  CHECK(listed(alice({"grants", "list"}), grant, "active"));
  CHECK(bob({"approvals", "list"}).out.find(approval) == std::string::npos);
  CHECK(listed(bob({"approvals", "list", "--all"}), approval, "approved"));

  Json second = requestGrant(alice, "system:serviceaccount:payments-ops:datafix-2", "write");
  REQUIRE(second["outcome"] == "PENDING_APPROVAL");
  std::string denied_grant = second["grant"]["id"];
  RunResult no = bob({"approvals", "deny", second["grant"]["approvalId"], "--comment", "no"});
  INFO(no.err);
  CHECK(no.exit_code == 0);
  CHECK_THAT(no.out, ContainsSubstring(": denied "));
  CHECK(alice({"grants", "list"}).out.find(denied_grant) == std::string::npos);
  CHECK(listed(alice({"grants", "list", "--all"}), denied_grant, "denied"));

  // ci-read grants without approval; a role above the rule's is denied (exit 1).
  Json auto_grant = requestGrant(bob, "system:serviceaccount:payments-ci:loader", "read");
  CHECK(auto_grant["outcome"] == "GRANTED");
  RunResult text = bob({"grants", "request", "--subject", "system:serviceaccount:payments-ci:x",
                        "--resource", "payments-db", "--reason", "r"});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, StartsWith("granted "));
  RunResult too_much =
      alice({"grants", "request", "--subject", "system:serviceaccount:payments-ci:loader",
             "--resource", "payments-db", "--role", "admin", "--reason", "r"});
  CHECK(too_much.exit_code == 1);
  CHECK_THAT(too_much.err, StartsWith("tollgatectl: grants request: denied: "));

  RunResult revoke = alice({"grants", "revoke", grant, "--comment", "done"});
  INFO(revoke.err);
  CHECK(revoke.exit_code == 0);
  CHECK(revoke.out == "grant " + grant + ": revoked\n");
  CHECK(listed(alice({"grants", "list", "--all", "--resource", "payments-db"}), grant, "revoked"));
  auto json = jsonLines(
      alice({"grants", "list", "--json", "--subject", "system:serviceaccount:payments-ci:loader"})
          .out);
  REQUIRE(json.size() == 1);
  CHECK(json[0]["state"] == "GRANT_ACTIVE");

  // Usage errors are exit 2 and never reach the server.
  CHECK(alice({"grants", "request", "--resource", "payments-db"}).exit_code == 2);
  CHECK(alice({"grants", "request", "--subject", "s", "--resource", "r", "--reason", "x", "--role",
               "root"})
            .exit_code == 2);
  CHECK(alice({"grants", "revoke"}).exit_code == 2);

  // No sidecar is connected: no sessions, and an unknown one is NOT_FOUND.
  RunResult sessions = alice({"sessions", "list", "--all"});
  INFO(sessions.err);
  CHECK(sessions.exit_code == 0);
  CHECK_THAT(sessions.out, StartsWith("ID  IDENTITY"));
  RunResult show = alice({"sessions", "show", "no-such-session"});
  CHECK(show.exit_code == 1);
  CHECK_THAT(show.err, StartsWith("tollgatectl: sessions show: NOT_FOUND: "));
  RunResult kill = alice({"sessions", "kill", "no-such-session", "--reason", "test"});
  CHECK(kill.exit_code == 1);
  CHECK_THAT(kill.err, StartsWith("tollgatectl: sessions kill: NOT_FOUND: "));
}

TEST_CASE("auditors search, export and verify the trail; others may not") {
  ControlPlaneUnderTest cp;
  User admin = adminWithPolicy(cp);
  User carol = loginAs(cp, "carol", cp.humanToken("carol", {"auditors"}));
  User bob = loginAs(cp, "bob", cp.humanToken("bob", {"dba"}));
  // A refused call is itself audited.
  CHECK(carol({"grants", "revoke", "gr-nope"}).exit_code == 1);

  RunResult search = carol({"audit", "search", "--since", "1h", "--type", "policy_applied"});
  INFO(search.err << cp.log());
  REQUIRE(search.exit_code == 0);
  CHECK_THAT(search.out, StartsWith("SEQ  TIME"));
  CHECK(std::regex_search(search.out, std::regex(R"(\n\d+ +\d{4}-.*Z +policy_applied +)")));
  auto events = jsonLines(carol({"audit", "search", "--json", "--all-pages", "--limit", "2"}).out);
  REQUIRE(events.size() >= 3);
  std::set<std::string> sequences;  // pages neither repeat nor skip records
  for (const auto& e : events) sequences.insert(e["sequence"].get<std::string>());
  CHECK(sequences.size() == events.size());
  auto denied = jsonLines(carol({"audit", "search", "--json", "--type", "access_denied"}).out);
  CHECK_FALSE(denied.empty());

  std::string file = (cp.dir().path() / "audit.jsonl").string();
  RunResult exported = carol({"audit", "export", "--output", file});
  INFO(exported.err);
  REQUIRE(exported.exit_code == 0);
  CHECK(fileMode(file) == 0600);
  auto lines = jsonLines(slurp(file));
  REQUIRE(lines.size() >= events.size());
  for (const auto& e : lines) CHECK(e["recordHash"].get<std::string>().size() == 64);
  RunResult to_stdout = carol({"audit", "export", "--type", "policy_applied"});
  CHECK(jsonLines(to_stdout.out).size() == 1);

  RunResult verify = carol({"audit", "verify"});
  INFO(verify.err);
  CHECK(verify.exit_code == 0);
  CHECK_THAT(verify.out, StartsWith("ok: "));

  CHECK(admin({"audit", "search"}).exit_code == 0);
  RunResult nope = bob({"audit", "search"});
  CHECK(nope.exit_code == 1);
  CHECK_THAT(nope.err, StartsWith("tollgatectl: audit search: PERMISSION_DENIED: "));
  CHECK(carol({"audit", "search", "--decision", "maybe"}).exit_code == 2);
  CHECK(carol({"audit", "search", "--from", "yesterday"}).exit_code == 2);
  CHECK(carol({"audit", "search", "--type", "nonsense"}).exit_code == 2);
}

TEST_CASE("audit verify exits 1 and names the record edited in SQLite behind its back") {
  ControlPlaneUnderTest cp;
  User admin = adminWithPolicy(cp);
  CHECK(admin({"policy", "history"}).exit_code == 0);
  REQUIRE(admin({"audit", "verify"}).exit_code == 0);
  cp.stop();
  RunResult edit = run({"sqlite3", (cp.dir().path() / "data" / "audit.db").string(),
                        "DROP TRIGGER audit_records_no_update; "
                        "UPDATE audit_records SET principal_id = 'someone-else' WHERE seq = 2;"});
  INFO(edit.err);
  REQUIRE(edit.exit_code == 0);
  cp.start();
  RunResult verify = admin({"audit", "verify"});
  INFO(verify.err << cp.log());
  CHECK(verify.exit_code == 1);
  CHECK_THAT(verify.out, StartsWith("sequence 2: "));
  CHECK_THAT(verify.out, ContainsSubstring("FAILED: "));
  auto json = jsonLines(admin({"audit", "verify", "--json"}).out);
  REQUIRE(json.size() == 1);
  CHECK(json[0]["problems"][0]["sequence"] == "2");
  // A range that leaves the edited record out checks out.
  CHECK(admin({"audit", "verify", "--from", "3"}).exit_code == 0);
}

}  // namespace
}  // namespace tollgate::testing
