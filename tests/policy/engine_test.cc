// Tests of the decision engine with hand-built statement facts: role x class, guardrails,
// review approvers, parse errors, multi-statement queries, resources and access matching.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "policy/engine.h"
#include "policy/loader.h"

namespace tollgate::policy {
namespace {

CompiledPolicyPtr compilePolicy(const std::string& body) {
  std::string text = R"(version: 1
resources:
  - name: db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
    match: {hosts: [db.prod.svc, 10.0.0.5, "*.db.internal"], ports: [5432]}
  - name: other
    protocol: postgres
    upstream: {host: 127.0.0.2, port: 5433}
)" + body;
  auto r = loadPolicyText(text, "t.yaml");
  std::string errs;
  for (const auto& e : r.errors) errs += e + "\n";
  INFO(errs);
  REQUIRE(r.ok());
  return r.policy;
}

StatementFacts st(StatementClass cls, std::string type, std::string normalized = "") {
  StatementFacts s;
  s.cls = cls;
  s.type = std::move(type);
  s.normalized = normalized.empty() ? s.type : std::move(normalized);
  return s;
}

QueryFacts query(std::vector<StatementFacts> statements) {
  QueryFacts q;
  q.statements = std::move(statements);
  return q;
}

const Identity kCi = Identity::fromSubject("system:serviceaccount:payments-ci:loader");

TEST_CASE("role x class matrix") {
  auto p = compilePolicy("");
  struct Row {
    StatementClass cls;
    const char* type;
    const char* text;
    bool read, write, admin;
  };
  std::vector<Row> rows = {
      {StatementClass::kRead, "select", "SELECT $1", true, true, true},
      {StatementClass::kTransaction, "begin", "BEGIN", true, true, true},
      {StatementClass::kWrite, "insert", "INSERT INTO t VALUES ($1)", false, true, true},
      {StatementClass::kWrite, "delete", "DELETE FROM t WHERE id = $1", false, true, true},
      {StatementClass::kDdl, "drop", "DROP TABLE t", false, false, true},
      {StatementClass::kAdmin, "alter_system", "ALTER SYSTEM SET x = $1", false, false, true},
      {StatementClass::kOther, "set", "SET statement_timeout = $1", true, true, true},
      {StatementClass::kOther, "set", "set local search_path TO public", true, true, true},
      {StatementClass::kOther, "set", "SET ROLE postgres", false, false, true},
      {StatementClass::kOther, "set", "/* x */ SET SESSION AUTHORIZATION bob", false, false, true},
      {StatementClass::kOther, "set", "SET \"role\" = $1", false, false, true},
      {StatementClass::kOther, "set", "SET app.tenant_id = $1", false, false, true},
      {StatementClass::kOther, "set", "SET session_replication_role = replica", false, false, true},
      {StatementClass::kOther, "set", "SET log_statement = $1", false, false, true},
      {StatementClass::kOther, "set", "SET \"track_activities\" TO off", false, false, true},
      {StatementClass::kOther, "set", "SET client_min_messages = warning", true, true, true},
      {StatementClass::kOther, "reset", "RESET ALL", true, true, true},
      {StatementClass::kOther, "show", "SHOW search_path", true, true, true},
      {StatementClass::kOther, "discard", "DISCARD ALL", true, true, true},
      {StatementClass::kOther, "deallocate", "DEALLOCATE ALL", true, true, true},
      {StatementClass::kOther, "listen", "LISTEN ch", true, true, true},
      {StatementClass::kOther, "notify", "NOTIFY ch", false, false, true},
      {StatementClass::kOther, "load", "LOAD 'x'", false, false, true},
  };
  for (const auto& row : rows) {
    auto q = query({st(row.cls, row.type, row.text)});
    for (auto [role, want] : {std::pair{Role::kRead, row.read}, std::pair{Role::kWrite, row.write},
                              std::pair{Role::kAdmin, row.admin}}) {
      INFO(row.text << " as " << roleName(role));
      Verdict v = decide(*p, kCi, "db", role, q);
      CHECK((v.decision == Decision::kAllow) == want);
      CHECK(v.rule == "role:" + std::string(roleName(role)));
      if (!want) {
        CHECK(v.message.find("blocked by rule \"role:") == 0);
      }
    }
  }
}

TEST_CASE("settings outside statements: ordinary ones for every role, the rest for admin") {
  for (Role r : {Role::kRead, Role::kWrite, Role::kAdmin}) {
    CHECK(settingAllowed(r, "statement_timeout", "5s"));
    CHECK(settingAllowed(r, "search_path", "app, public"));
    CHECK(settingAllowed(r, "standard_conforming_strings", "on"));
    CHECK(settingAllowed(r, "DateStyle", "ISO"));
  }
  for (Role r : {Role::kRead, Role::kWrite}) {
    CHECK_FALSE(settingAllowed(r, "role", "postgres"));
    CHECK_FALSE(settingAllowed(r, "ROLE", "postgres"));
    CHECK_FALSE(settingAllowed(r, "session_authorization", "postgres"));
    CHECK_FALSE(settingAllowed(r, "session_replication_role", "replica"));
    CHECK_FALSE(settingAllowed(r, "app.tenant", "7"));
    CHECK_FALSE(settingAllowed(r, "standard_conforming_strings", "off"));
    CHECK_FALSE(settingAllowed(r, "log_statement", "none"));
    CHECK_FALSE(settingAllowed(r, "Log_Min_Duration_Statement", "-1"));
    CHECK_FALSE(settingAllowed(r, "track_activities", "off"));
    CHECK_FALSE(settingAllowed(r, "debug_print_plan", "on"));
    CHECK_FALSE(settingAllowed(r, "local_preload_libraries", "x"));
    CHECK_FALSE(settingAllowed(r, "", "x"));
  }
  // A read grant's transactions stay read-only; a write grant may make them read-write.
  CHECK_FALSE(settingAllowed(Role::kRead, "default_transaction_read_only", "off"));
  CHECK_FALSE(settingAllowed(Role::kRead, "Transaction_Read_Only", "0"));
  CHECK(settingAllowed(Role::kRead, "default_transaction_read_only", "on"));
  for (Role r : {Role::kWrite, Role::kAdmin}) {
    CHECK(settingAllowed(r, "default_transaction_read_only", "off"));
  }
  CHECK(settingAllowed(Role::kAdmin, "role", "postgres"));
  CHECK(settingAllowed(Role::kAdmin, "app.tenant", "7"));
}

TEST_CASE("role refusal message names role, class and statement type") {
  auto p = compilePolicy("");
  Verdict v = decide(*p, kCi, "db", Role::kRead, query({st(StatementClass::kWrite, "delete")}));
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.message ==
        "blocked by rule \"role:read\": a read grant does not allow write statements (delete)");
}

TEST_CASE("guardrails match on each condition") {
  auto p = compilePolicy(R"(guardrails:
  - name: no-ddl
    match: {class: [ddl]}
    action: block
    message: "DDL is not allowed from jobs"
  - name: no-truncate-like
    match: {statement: ["trunc*"]}
    action: block
  - name: unbounded-delete
    match: {statement: [delete, update], where: absent}
    action: review
    approvers: {group: dba, count: 2, timeout: 5m}
  - name: cards
    match: {objects: [cards], class: [read]}
    action: review
  - name: audit-schema
    match: {objects: ["audit.*"]}
    action: block
  - name: fns
    match: {functions: [pg_read_file, "dblink*"]}
    action: block
  - name: multi
    match: {multiStatement: true, class: [write]}
    action: block
  - name: copy-to
    match: {pattern: "copy .* to "}
    action: block
)");
  auto decideOne = [&](StatementFacts s, Role role = Role::kAdmin) {
    return decide(*p, kCi, "db", role, query({std::move(s)}));
  };

  Verdict ddl = decideOne(st(StatementClass::kDdl, "drop"));
  CHECK(ddl.decision == Decision::kBlock);
  CHECK(ddl.rule == "guardrail:no-ddl");
  CHECK(ddl.message == "blocked by rule \"no-ddl\": DDL is not allowed from jobs");

  CHECK(decideOne(st(StatementClass::kWrite, "truncate")).rule == "guardrail:no-truncate-like");

  StatementFacts del = st(StatementClass::kWrite, "delete");
  del.has_where = false;
  Verdict review = decideOne(del);
  CHECK(review.decision == Decision::kReview);
  CHECK(review.rule == "guardrail:unbounded-delete");
  CHECK(review.message == "held for approval by rule \"unbounded-delete\"");
  REQUIRE(review.approvers.has_value());
  CHECK(review.approvers->group == "dba");
  CHECK(review.approvers->count == 2);
  CHECK(review.approvers->timeout_seconds == 300);
  del.has_where = true;
  CHECK(decideOne(del).decision == Decision::kAllow);

  StatementFacts read_cards = st(StatementClass::kRead, "select");
  read_cards.reads = {"public.cards"};  // "cards" without a schema matches any schema
  CHECK(decideOne(read_cards).rule == "guardrail:cards");
  read_cards.reads = {"cardsx"};
  CHECK(decideOne(read_cards).decision == Decision::kAllow);

  StatementFacts audit = st(StatementClass::kWrite, "insert");
  audit.writes = {"audit.events"};
  CHECK(decideOne(audit).rule == "guardrail:audit-schema");
  audit.writes = {"events"};  // unqualified: "audit.*" names a schema and does not match
  CHECK(decideOne(audit).decision == Decision::kAllow);

  StatementFacts fn = st(StatementClass::kRead, "select");
  fn.functions = {"pg_catalog.pg_read_file"};
  CHECK(decideOne(fn).rule == "guardrail:fns");
  fn.functions = {"dblink_exec"};
  CHECK(decideOne(fn).rule == "guardrail:fns");
  fn.functions = {"lower"};
  CHECK(decideOne(fn).decision == Decision::kAllow);

  // The pattern runs on the normalised text and ignores case.
  CHECK(decideOne(st(StatementClass::kRead, "copy", "CoPy cards TO STDOUT")).rule ==
        "guardrail:copy-to");
  CHECK(decideOne(st(StatementClass::kRead, "copy", "copy cards from stdin")).decision ==
        Decision::kAllow);
}

TEST_CASE("multiStatement matches only queries with several statements") {
  auto p = compilePolicy(R"(guardrails:
  - name: multi
    match: {multiStatement: true, class: [write]}
    action: block
)");
  StatementFacts ins = st(StatementClass::kWrite, "insert");
  CHECK(decide(*p, kCi, "db", Role::kWrite, query({ins})).decision == Decision::kAllow);
  Verdict v =
      decide(*p, kCi, "db", Role::kWrite, query({st(StatementClass::kRead, "select"), ins}));
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.rule == "guardrail:multi");
  CHECK(v.deciding_statement == 1u);
  CHECK(v.message == "blocked by rule \"multi\" (statement 2 of 2)");
}

TEST_CASE("a guardrail cannot grant more than the role, and allow ends guardrail evaluation") {
  auto p = compilePolicy(R"(guardrails:
  - name: allow-sessions
    match: {objects: [sessions]}
    action: allow
  - name: unbounded-delete
    match: {statement: [delete], where: absent}
    action: review
)");
  StatementFacts del = st(StatementClass::kWrite, "delete");
  del.has_where = false;
  del.writes = {"sessions"};
  // Read role: the allow guardrail does not lift the role's refusal.
  Verdict v = decide(*p, kCi, "db", Role::kRead, query({del}));
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.rule == "role:read");
  // Write role: the first matching guardrail (allow) wins over the later review.
  v = decide(*p, kCi, "db", Role::kWrite, query({del}));
  CHECK(v.decision == Decision::kAllow);
  CHECK(v.rule == "guardrail:allow-sessions");
  del.writes = {"orders"};
  CHECK(decide(*p, kCi, "db", Role::kWrite, query({del})).decision == Decision::kReview);
}

TEST_CASE("guardrails are scoped by resource and subject") {
  auto p = compilePolicy(R"(guardrails:
  - name: only-other
    resources: [other]
    match: {class: [read]}
    action: block
  - name: not-dba
    subjects: [{namespace: "payments-*"}]
    match: {class: [write]}
    action: review
)");
  auto sel = query({st(StatementClass::kRead, "select")});
  CHECK(decide(*p, kCi, "db", Role::kRead, sel).decision == Decision::kAllow);
  CHECK(decide(*p, kCi, "other", Role::kRead, sel).rule == "guardrail:only-other");
  auto ins = query({st(StatementClass::kWrite, "insert")});
  CHECK(decide(*p, kCi, "db", Role::kWrite, ins).decision == Decision::kReview);
  Identity dba = Identity::fromSubject("alice@example.com", {"dba"});
  CHECK(decide(*p, dba, "db", Role::kWrite, ins).decision == Decision::kAllow);
}

TEST_CASE("multi-statement query is decided by its strictest statement") {
  auto p = compilePolicy(R"(guardrails:
  - name: no-ddl
    match: {class: [ddl]}
    action: block
  - name: unbounded
    match: {statement: [delete], where: absent}
    action: review
)");
  StatementFacts del = st(StatementClass::kWrite, "delete");
  del.has_where = false;
  auto q = query({st(StatementClass::kRead, "select"), del, st(StatementClass::kDdl, "drop"),
                  st(StatementClass::kDdl, "drop")});
  Verdict v = decide(*p, kCi, "db", Role::kAdmin, q);
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.deciding_statement == 2u);  // the first among the strictest
  REQUIRE(v.statements.size() == 4);
  CHECK(v.statements[0].decision == Decision::kAllow);
  CHECK(v.statements[1].decision == Decision::kReview);
  CHECK(v.statements[2].decision == Decision::kBlock);
  CHECK(v.message == "blocked by rule \"no-ddl\" (statement 3 of 4)");

  // "SELECT 1; DROP TABLE cards" under a read grant: the DROP blocks the whole query.
  Verdict r =
      decide(*p, kCi, "db", Role::kRead,
             query({st(StatementClass::kRead, "select"), st(StatementClass::kDdl, "drop")}));
  CHECK(r.decision == Decision::kBlock);
  CHECK(r.rule == "role:read");
  CHECK(r.deciding_statement == 1u);
}

TEST_CASE("parse errors follow defaults.onParseError, block by default") {
  QueryFacts bad;
  bad.parsed = false;
  bad.error = "syntax error at or near \"SELEC\"";
  auto block = compilePolicy("");
  Verdict v = decide(*block, kCi, "db", Role::kAdmin, bad);
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.rule == "parse-error");
  CHECK(v.message.find("could not be parsed") != std::string::npos);
  CHECK_FALSE(v.deciding_statement.has_value());

  auto rv = loadPolicyText(R"(version: 1
defaults: {onParseError: review, approvers: {group: sec, count: 2}}
)",
                           "t.yaml");
  REQUIRE(rv.ok());
  v = decide(*rv.policy, kCi, "db", Role::kAdmin, bad);
  // The resource is unknown in this policy, but a parse error is decided first.
  CHECK(v.decision == Decision::kReview);
  REQUIRE(v.approvers.has_value());
  CHECK(v.approvers->group == "sec");
  CHECK(v.approvers->count == 2);
}

TEST_CASE("unknown resource blocks and empty query is allowed") {
  auto p = compilePolicy("");
  Verdict v = decide(*p, kCi, "nope", Role::kAdmin, query({st(StatementClass::kRead, "select")}));
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.rule == "unknown-resource");
  Verdict e = decide(*p, kCi, "db", Role::kRead, query({}));
  CHECK(e.decision == Decision::kAllow);
  CHECK(e.rule == "empty");
}

TEST_CASE("resourceFor maps intercepted destinations") {
  auto p = compilePolicy("");
  REQUIRE(p->resourceFor("10.0.0.5", 5432) != nullptr);
  CHECK(p->resourceFor("10.0.0.5", 5432)->name == "db");
  CHECK(p->resourceFor("DB.prod.SVC", 5432)->name == "db");
  CHECK(p->resourceFor("a.db.internal", 5432)->name == "db");
  CHECK(p->resourceFor("db.internal", 5432) == nullptr);  // "*.x" needs a label before
  CHECK(p->resourceFor("10.0.0.5", 5433) == nullptr);
  // Without a match section the upstream itself is the destination.
  REQUIRE(p->resourceFor("127.0.0.2", 5433) != nullptr);
  CHECK(p->resourceFor("127.0.0.2", 5433)->name == "other");
  // A resource's own upstream is its destination too, besides what its match names.
  REQUIRE(p->resourceFor("127.0.0.1", 5432) != nullptr);
  CHECK(p->resourceFor("127.0.0.1", 5432)->name == "db");
  REQUIRE(p->resourceFor("::ffff:127.0.0.1", 5432) != nullptr);
  CHECK(p->resourceFor("::ffff:127.0.0.1", 5432)->name == "db");
  CHECK(p->resourceFor("127.0.0.1", 5433) == nullptr);
}

TEST_CASE("matchAccess returns the first matching rule") {
  auto p = compilePolicy(R"(access:
  - name: ci-read
    subjects: [{serviceAccount: "payments-ci/*"}]
    resources: [db]
    role: read
    maxDuration: 15m
  - name: loaders
    subjects: [{serviceAccount: "*/loader"}]
    resources: ["*"]
    role: write
    approval: required
    approvers: {group: dba}
  - name: dba
    subjects: [{group: dba}]
    resources: [db]
    role: admin
)");
  const AccessRule* r = p->matchAccess(kCi, "db");
  REQUIRE(r != nullptr);
  CHECK(r->name == "ci-read");
  CHECK(r->role == Role::kRead);
  CHECK(r->max_duration_seconds == 900);
  r = p->matchAccess(kCi, "other");
  REQUIRE(r != nullptr);
  CHECK(r->name == "loaders");
  CHECK(r->approval == Approval::kRequired);
  CHECK(p->matchAccess(Identity::fromSubject("system:serviceaccount:x:y"), "db") == nullptr);
  CHECK(p->matchAccess(Identity::fromSubject("bob", {"dba"}), "db")->name == "dba");
  CHECK(p->matchAccess(Identity::fromSubject("bob", {"dba"}), "other") == nullptr);
}

}  // namespace
}  // namespace tollgate::policy

namespace tollgate::policy {
namespace {

// Regression: "WITH x AS (DELETE FROM cards RETURNING *) SELECT * FROM x" has statement type
// select, so a guardrail on statement [delete] with where: absent let it through unreviewed.
TEST_CASE("unbounded DELETE wrapped in a CTE still hits the unbounded-delete guardrail") {
  auto p = compilePolicy(R"(guardrails:
  - name: unbounded-delete
    match: {statement: [delete, update], where: absent}
    action: review
)");
  StatementFacts cte = st(StatementClass::kWrite, "select",
                          "WITH x AS (DELETE FROM cards RETURNING *) SELECT * FROM x");
  cte.writes = {"cards"};
  cte.has_where = false;
  Verdict v = decide(*p, kCi, "db", Role::kWrite, query({cte}));
  CHECK(v.decision == Decision::kReview);
  CHECK(v.rule == "guardrail:unbounded-delete");
  cte.has_where = true;  // the same CTE with a WHERE in the DELETE
  CHECK(decide(*p, kCi, "db", Role::kWrite, query({cte})).decision == Decision::kAllow);
}

// Regression: "PREPARE d AS DELETE ..." has type prepare and its EXECUTE type execute, so a
// guardrail on statement [delete] never saw the delete they run.
TEST_CASE("a guardrail on a statement type matches statements that run one") {
  auto p = compilePolicy(R"(guardrails:
  - name: deletes
    match: {statement: [delete]}
    action: review
)");
  for (const char* type : {"prepare", "execute", "explain", "select", "do"}) {
    INFO(type);
    StatementFacts runner = st(StatementClass::kWrite, type);
    runner.inner_types = {"delete"};
    Verdict v = decide(*p, kCi, "db", Role::kWrite, query({runner}));
    CHECK(v.decision == Decision::kReview);
    CHECK(v.rule == "guardrail:deletes");
    runner.inner_types = {"insert"};
    CHECK(decide(*p, kCi, "db", Role::kWrite, query({runner})).decision == Decision::kAllow);
  }
}

}  // namespace
}  // namespace tollgate::policy
