// masking.copies: a write must not store a masked column's data where reading it back would not
// mask it (`UPDATE cards SET note = cvv`, then `SELECT note`). Real statements through the real
// analyser and the policy engine.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "policy/engine.h"
#include "policy/loader.h"
#include "policy/sql/analyzer.h"
#include "policy/sql/lineage.h"

namespace tollgate::policy {
namespace {

using Catch::Matchers::ContainsSubstring;

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

CompiledPolicyPtr compilePolicy(const std::string& masking, const std::string& extra = "") {
  const std::string text = R"(version: 1
resources:
  - name: db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
access:
  - name: jobs
    subjects: [{serviceAccount: "payments/*"}]
    resources: [db]
    role: write
)" + extra + R"(masking:
  rules:
    - {name: pan, detector: pan}
    - {name: cvv, columns: [cvv, "cvv_*"], action: redact}
    - {name: expiry, columns: [expiry], action: redact}
    - {name: card-number, columns: [card_number, "pan_*"], action: {type: pci, keepFirst: 6}}
)" + masking;
  auto r = loadPolicyText(text, "copy.yaml");
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  return r.policy;
}

const Identity kJob = Identity::fromSubject("system:serviceaccount:payments:loader");

// As the admin role, which may run CREATE TABLE AS: copies are judged for every role.
Verdict decideSql(const CompiledPolicy& p, const std::string& sql) {
  auto facts = SqlAnalyzer::analyzeUncached(sql);
  REQUIRE(facts->parsed);
  return decide(p, kJob, "db", Role::kAdmin, *facts);
}

struct Case {
  const char* sql;
  bool copies;  // stores masked data where it would be read unmasked
};

const Case kCases[] = {
    // Named copies into a column no rule masks.
    {"UPDATE cards SET note = cvv WHERE id = 1", true},
    {"UPDATE cards SET note = upper(cvv) || 'x'", true},
    {"UPDATE cards SET (note, holder) = (SELECT cvv, holder FROM cards WHERE id = 2)", true},
    {"UPDATE cards SET (holder, note) = (holder, cvv)", true},
    {"UPDATE cards SET (holder, note) = (SELECT * FROM src)", true},
    {"UPDATE t SET note = c.cvv FROM cards c WHERE c.id = t.id", true},
    {"UPDATE t SET note = (SELECT cvv FROM cards LIMIT 1)", true},
    {"UPDATE t SET note = x FROM (SELECT cvv AS x FROM cards) s", true},
    {"INSERT INTO log (msg) SELECT cvv FROM cards", true},
    {"INSERT INTO log (id, msg) VALUES (1, (SELECT expiry FROM cards LIMIT 1))", true},
    {"INSERT INTO log (msg) SELECT k FROM (SELECT cvv AS k FROM cards) s", true},
    {"WITH s AS (SELECT cvv AS k FROM cards) INSERT INTO log (msg) SELECT k FROM s", true},
    {"WITH u AS (UPDATE t SET note = cvv RETURNING id) SELECT id FROM u", true},
    {"INSERT INTO t (id, cvv) VALUES (1, '1') ON CONFLICT (id) DO UPDATE SET note = "
     "excluded.cvv",
     true},
    {"MERGE INTO t USING cards c ON t.id = c.id WHEN MATCHED THEN UPDATE SET note = c.cvv", true},
    {"MERGE INTO t USING cards c ON t.id = c.id WHEN NOT MATCHED THEN INSERT (id, note) VALUES "
     "(c.id, c.cvv)",
     true},
    {"CREATE TABLE leak AS SELECT cvv AS note FROM cards", true},
    {"CREATE TABLE leak (a, b) AS SELECT id, cvv FROM cards", true},
    {"SELECT cvv AS note INTO leak FROM cards", true},
    {"PREPARE p AS UPDATE t SET note = cvv", true},
    {"EXPLAIN ANALYZE UPDATE t SET note = cvv", true},
    // DDL that leaves the data under another name: a view made in the session (the catalog
    // read at login does not have it), a renamed column, a USING or generated expression.
    {"CREATE VIEW v AS SELECT id, cvv AS note FROM cards", true},
    {"CREATE VIEW v (a, b) AS SELECT id, cvv FROM cards", true},
    // Written through, v.cvv would store into note.
    {"CREATE VIEW v AS SELECT id, note AS cvv FROM cards", true},
    {"CREATE VIEW v AS SELECT c.id, c.note AS cvv FROM cards c", true},
    {"ALTER VIEW v RENAME COLUMN note TO cvv", true},
    {"ALTER TABLE t RENAME COLUMN note TO cvv", false},  // its data is masked from now on
    {"ALTER TABLE cards RENAME COLUMN cvv TO note", true},
    {"ALTER TABLE cards ALTER COLUMN note TYPE text USING cvv", true},
    {"ALTER TABLE cards ADD COLUMN note text GENERATED ALWAYS AS (cvv) STORED", true},
    {"CREATE TABLE x (cvv text, note text GENERATED ALWAYS AS (upper(cvv)) STORED)", true},
    {"CREATE TABLE leak AS EXECUTE p", true},
    {"ALTER TYPE card_t RENAME ATTRIBUTE cvv TO note", true},
    // Large objects and sequences read back under no column name (review round 2).
    {"SELECT lo_from_bytea(0, convert_to(cvv, 'UTF8')) FROM cards", true},
    {"SELECT setval('s', cvv::bigint) FROM cards WHERE id = 1", true},
    // A notification's payload reaches every listener as it is (review, session 22).
    {"SELECT pg_notify('ch', (SELECT string_agg(cvv, ',') FROM cards))", true},
    {"SELECT pg_catalog.pg_notify('ch', cvv) FROM cards", true},
    {"SELECT pg_notify('ch', note) FROM cards", false},
    // The written table's own row, and the row ON CONFLICT proposes (review round 1).
    {"UPDATE cards SET note = cards::text", true},
    {"UPDATE cards c SET note = to_jsonb(c)->>'cvv'", true},
    {"MERGE INTO cards USING src s ON cards.id = s.id WHEN MATCHED THEN UPDATE SET note = "
     "cards::text",
     true},
    {"INSERT INTO cards (id, cvv) VALUES (1, '1') ON CONFLICT (id) DO UPDATE SET note = "
     "excluded::text",
     true},
    // `*` in CREATE TABLE AS over what may have renamed a column.
    {"CREATE TABLE leak AS SELECT * FROM (SELECT cvv AS note FROM cards) s", true},
    {"CREATE TABLE leak AS SELECT s.* FROM (SELECT cvv AS note FROM cards) s", true},
    {"WITH s AS (SELECT cvv AS note FROM cards) SELECT * INTO leak FROM s", true},
    {"CREATE TABLE leak AS SELECT * FROM cards c(id, note)", true},
    {"CREATE TABLE leak AS SELECT * FROM cards c, jsonb_each_text(to_jsonb(c))", true},
    {"CREATE TABLE leak (a, b) AS SELECT * FROM cards", true},
    // A column list shorter than the query: the rest keep the query's names.
    {"CREATE TABLE leak (cvv) AS SELECT cvv, cvv AS note FROM cards", true},
    // INTO on the leftmost arm of a set operation creates the table from the whole of it.
    {"SELECT cvv AS note INTO leak FROM cards UNION ALL SELECT 'x'", true},
    // Into a column another rule masks differently: the pci mask shows the last 4 of a cvv.
    {"UPDATE cards SET card_number = cvv", true},
    // Whole rows and positions: which column lands where is not known.
    {"INSERT INTO log (payload) SELECT to_jsonb(c) FROM cards c", true},
    {"UPDATE t SET note = c::text FROM cards c", true},
    {"INSERT INTO archive SELECT * FROM cards", true},
    {"INSERT INTO archive SELECT id, cvv FROM cards", true},
    {"INSERT INTO archive (a, b) SELECT * FROM cards", true},
    {"CREATE TABLE leak AS SELECT upper(cvv) FROM cards", true},
    // Stays masked: the same rule, or a rule masking the same way, covers where it goes.
    {"UPDATE cards SET cvv = trim(cvv)", false},
    {"UPDATE cards SET cvv_old = cvv", false},
    {"UPDATE cards SET expiry = cvv", false},  // another rule, the same action
    {"INSERT INTO archive (id, cvv) SELECT id, cvv FROM cards", false},
    {"CREATE TABLE copy AS SELECT * FROM cards", false},
    {"CREATE TABLE copy AS SELECT c.*, cvv FROM cards c", false},
    {"SELECT id, cvv INTO copy FROM cards", false},
    {"CREATE TABLE copy AS SELECT cvv::text FROM cards", false},
    {"CREATE VIEW v AS SELECT * FROM cards", false},
    {"CREATE VIEW v AS SELECT id, cvv AS cvv_copy, upper(note) AS n FROM cards", false},
    {"CREATE TABLE copy AS SELECT * FROM cards JOIN owners USING (id)", false},
    {"CREATE TABLE copy (cvv) AS SELECT cvv, id FROM cards", false},
    // Each target of a multiple-column SET gets its own element.
    {"UPDATE cards SET (cvv, updated_at) = (trim(cvv), now())", false},
    {"UPDATE cards SET (cvv, note) = (SELECT cvv, 'x' FROM src LIMIT 1)", false},
    {"INSERT INTO cards (id, cvv, note) VALUES (1, '1', 'n') ON CONFLICT (id) DO UPDATE SET "
     "(cvv, note) = (excluded.cvv, excluded.note)",
     false},
    {"ALTER TABLE cards RENAME COLUMN cvv TO cvv_old", false},
    // Nothing masked is stored.
    {"UPDATE tag SET tag = lower(tag)", false},  // the column, not the table's row
    {"UPDATE tag t SET tag = lower(tag)", false},
    {"INSERT INTO status (id, status) SELECT id, status FROM other", false},
    {"SELECT nextval('s')", false},
    {"ALTER TABLE log ALTER COLUMN note SET DEFAULT upper('x')", false},
    {"ALTER TABLE cards ALTER COLUMN note TYPE int USING note::int", false},
    {"CREATE TABLE x (id int, total int GENERATED ALWAYS AS (id * 2) STORED)", false},
    {"ALTER TABLE cards RENAME TO cards_old", false},
    {"UPDATE cards SET note = 'x' WHERE cvv = '123'", false},
    {"UPDATE accounts SET balance = balance + 1 WHERE id = 7", false},
    {"INSERT INTO cards (id, cvv, note) VALUES (1, '123', 'x')", false},
    {"INSERT INTO log VALUES (1, 'x')", false},
    {"INSERT INTO log (msg) SELECT holder FROM cards WHERE cvv = '1'", false},
    {"DELETE FROM cards WHERE cvv = '1'", false},
    {"EXPLAIN UPDATE t SET note = cvv", false},  // plain EXPLAIN runs nothing
    {"SELECT cvv AS note FROM cards", false},    // a read is masked as it is returned
};

TEST_CASE("writes storing masked data where it would be read unmasked are refused") {
  auto p = compilePolicy("");
  for (const Case& c : kCases) {
    INFO(c.sql);
    const Verdict v = decideSql(*p, c.sql);
    if (c.copies) {
      CHECK(v.decision == Decision::kBlock);
      CHECK(v.rule == "masking:copy");
      CHECK_THAT(v.message, ContainsSubstring("blocked by rule \"masking:copy\""));
    } else {
      CHECK(v.decision == Decision::kAllow);
      CHECK(v.rule != "masking:copy");
    }
  }
}

TEST_CASE("the refusal names the rule and where the data would go, never a value") {
  auto p = compilePolicy("");
  Verdict v = decideSql(*p, "UPDATE cards SET note = cvv WHERE cvv = '987'");
  CHECK_THAT(v.message, ContainsSubstring("data masked by rule \"cvv\""));
  CHECK_THAT(v.message, ContainsSubstring("in column note, which no rule masks"));
  CHECK_THAT(v.message, !ContainsSubstring("987"));
  v = decideSql(*p, "UPDATE cards SET card_number = expiry");
  CHECK_THAT(v.message, ContainsSubstring("another rule masks differently"));
  v = decideSql(*p, "INSERT INTO archive SELECT * FROM cards");
  CHECK_THAT(v.message, ContainsSubstring("whole rows or columns by position"));
  CHECK_THAT(v.message, ContainsSubstring("name the columns"));
  // Several statements: the one that copies decides.
  v = decideSql(*p, "SELECT 1; UPDATE cards SET note = cvv");
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.deciding_statement == 1u);
  CHECK_THAT(v.message, ContainsSubstring("(statement 2 of 2)"));
}

TEST_CASE("masking.copies: review holds for approval, allow lets it through") {
  auto review = compilePolicy("  copies: review\n", "defaults: {approvers: {group: security}}\n");
  Verdict v = decideSql(*review, "UPDATE cards SET note = cvv");
  CHECK(v.decision == Decision::kReview);
  CHECK(v.rule == "masking:copy");
  CHECK_THAT(v.message, ContainsSubstring("held for approval by rule \"masking:copy\""));
  REQUIRE(v.approvers.has_value());
  CHECK(v.approvers->group == "security");

  auto allow = compilePolicy("  copies: allow\n");
  CHECK(decideSql(*allow, "UPDATE cards SET note = cvv").decision == Decision::kAllow);
}

TEST_CASE("guardrails cannot exempt a copy; a blocking guardrail beats review; role first") {
  // A guardrail's objects match relations read too: allowing writes to cards_v2 must not
  // allow copying cvv out of cards into it, nor a SELECT guardrail a data-modifying CTE.
  const std::string guardrails = R"(guardrails:
  - name: card-migration
    match: {class: [write], objects: [cards, cards_v2]}
    action: allow
  - name: reads
    match: {statement: [select]}
    action: allow
  - name: no-log
    match: {objects: [log]}
    action: block
)";
  auto p = compilePolicy("", guardrails);
  Verdict v = decideSql(*p, "INSERT INTO cards_v2 (id, secret) SELECT id, cvv FROM cards");
  CHECK(v.rule == "masking:copy");
  v = decideSql(*p, "WITH u AS (UPDATE t SET note = cvv RETURNING id) SELECT id FROM u");
  CHECK(v.rule == "masking:copy");
  CHECK(decideSql(*p, "INSERT INTO cards_v2 (id, cvv) SELECT id, cvv FROM cards").decision ==
        Decision::kAllow);

  auto review = compilePolicy("  copies: review\n", guardrails);
  v = decideSql(*review, "INSERT INTO cards_v2 (id, secret) SELECT id, cvv FROM cards");
  CHECK(v.decision == Decision::kReview);
  CHECK(v.rule == "masking:copy");
  v = decideSql(*review, "INSERT INTO log (msg) SELECT cvv FROM staging");
  CHECK(v.decision == Decision::kBlock);
  CHECK(v.rule == "guardrail:no-log");

  auto facts = SqlAnalyzer::analyzeUncached("UPDATE cards SET note = cvv");
  CHECK(decide(*p, kJob, "db", Role::kRead, *facts).rule == "role:read");
}

TEST_CASE("what the session resolves is recorded: defaults, parameters, EXECUTE arguments") {
  auto facts = SqlAnalyzer::analyzeUncached(
      "ALTER TABLE log ALTER COLUMN note SET DEFAULT card_code(1); "
      "ALTER TABLE log ADD COLUMN n text DEFAULT card_code(2); "
      "PREPARE p(text) AS UPDATE log SET msg = $1; PREPARE q AS SELECT $1::text; "
      "EXECUTE p((SELECT cvv FROM cards LIMIT 1))");
  REQUIRE(facts->statements.size() == 5);
  const auto& s = facts->statements;
  REQUIRE(s[0].lineage.stored.size() == 1);
  CHECK(s[0].lineage.stored[0].first == "note");
  const auto& sources = s[0].lineage.stored[0].second.sources;
  CHECK(std::find(sources.begin(), sources.end(), callName("card_code")) != sources.end());
  REQUIRE(s[1].lineage.stored.size() == 1);
  CHECK(s[1].lineage.stored[0].first == "n");
  CHECK(s[2].lineage.stores_parameters);
  CHECK_FALSE(s[3].lineage.stores_parameters);
  CHECK(s[4].lineage.arguments.sources == std::vector<std::string>{"cvv"});
  // RETURNING a column named like its table is the column, not a whole row.
  facts = SqlAnalyzer::analyzeUncached(
      "INSERT INTO status (id, status) VALUES (1, 'new') "
      "RETURNING status");
  bool whole_row = false;
  facts->statements[0].lineage.namesFor(0, 1, "status", &whole_row);
  CHECK_FALSE(whole_row);
}

// The tables a `*` stored by position expands, for every entry it made a whole row; none
// when anything else in the statement may be any column.
std::vector<std::pair<size_t, std::vector<std::string>>> starTables(const std::string& sql) {
  auto facts = SqlAnalyzer::analyzeUncached(sql);
  REQUIRE(facts->parsed);
  REQUIRE(facts->statements.size() == 1);
  const OutputLineage& l = facts->statements[0].lineage;
  for (const auto& [index, tables] : l.star_tables) {
    REQUIRE(index < l.stored.size());
    CHECK(l.stored[index].second.whole_row);
  }
  return l.star_tables;
}

TEST_CASE("a `*` stored by position over tables names them for the session") {
  using Tables = std::vector<std::pair<size_t, std::vector<std::string>>>;
  using Names = std::vector<std::string>;
  CHECK(starTables("INSERT INTO archive SELECT * FROM orders") == Tables{{0, Names{"orders"}}});
  CHECK(starTables("INSERT INTO archive SELECT * FROM sales.orders o WHERE o.id > 5") ==
        Tables{{0, Names{"orders"}}});
  CHECK(starTables("INSERT INTO archive SELECT 1, *, now() FROM orders JOIN items USING (id)") ==
        Tables{{0, Names{"orders", "items"}}});
  // `t.*` expands t only, named by its alias or its own name.
  CHECK(starTables("INSERT INTO archive SELECT o.* FROM orders o JOIN cards c ON c.id = o.card") ==
        Tables{{0, Names{"orders"}}});
  CHECK(starTables("INSERT INTO archive SELECT orders.* FROM orders, cards") ==
        Tables{{0, Names{"orders"}}});
  CHECK(starTables("INSERT INTO archive SELECT o.*, c.* FROM orders o, cards c") ==
        Tables{{0, Names{"orders", "cards"}}});
  // A join's own alias expands both sides, and hides the names inside it.
  CHECK(starTables("INSERT INTO archive SELECT j.* FROM (orders JOIN items USING (id)) AS j") ==
        Tables{{0, Names{"orders", "items"}}});
  CHECK(starTables("INSERT INTO archive SELECT o.* FROM (orders o JOIN cards c ON c.id = o.card) "
                   "AS o") == Tables{{0, Names{"orders", "cards"}}});
  CHECK(starTables("INSERT INTO archive SELECT o.* FROM ((orders o JOIN cards c ON true) AS o "
                   "JOIN items i ON true)") == Tables{{0, Names{"orders", "cards"}}});
  // Several stars, side by side or with values only before and after them.
  CHECK(starTables("INSERT INTO archive SELECT 1, o.*, i.*, 2 FROM orders o, items i") ==
        Tables{{0, Names{"orders", "items"}}});
  // Under a column list each named column may get any of it.
  CHECK(starTables("INSERT INTO archive (a, b) SELECT * FROM orders") ==
        Tables{{0, Names{"orders"}}, {1, Names{"orders"}}});
  CHECK(starTables("WITH x AS (SELECT 1) INSERT INTO archive SELECT * FROM orders") ==
        Tables{{0, Names{"orders"}}});
  // What a session could not name from a table's columns stays any column.
  for (const char* sql : {
           // a CTE, sub-select or function in FROM, whichever WITH defines the name
           "WITH orders AS (SELECT cvv FROM cards) INSERT INTO archive SELECT * FROM orders",
           "INSERT INTO archive WITH orders AS (SELECT cvv FROM cards) SELECT * FROM orders",
           "INSERT INTO archive SELECT * FROM (SELECT cvv FROM cards) s",
           "INSERT INTO archive SELECT * FROM orders, LATERAL (SELECT cvv FROM cards) s",
           "INSERT INTO archive SELECT * FROM generate_series(1, 3)",
           "INSERT INTO archive SELECT * FROM orders o(a, b)",
           "INSERT INTO archive SELECT * FROM orders TABLESAMPLE SYSTEM (10)",
           // a row value, a value between two stars, (expr).*, a set operation, no FROM
           "INSERT INTO archive SELECT o, * FROM orders o",
           "INSERT INTO archive SELECT o.*, c.cvv, i.* FROM orders o, cards c, items i",
           "INSERT INTO archive SELECT (o).* FROM orders o",
           "INSERT INTO archive SELECT (get_card()).* FROM orders",
           "INSERT INTO archive SELECT * FROM orders UNION ALL SELECT * FROM cards",
           "INSERT INTO archive VALUES (1, 2)",
       }) {
    INFO(sql);
    CHECK(starTables(sql).empty());
  }
}

TEST_CASE("a column stored unchanged into a whole column is marked for the session") {
  // The target names of the entries bare_stores marks.
  auto bare = [](const std::string& sql) {
    auto facts = SqlAnalyzer::analyzeUncached(sql);
    REQUIRE(facts->parsed);
    REQUIRE(facts->statements.size() == 1);
    const OutputLineage& l = facts->statements[0].lineage;
    std::vector<std::string> targets;
    for (size_t index : l.bare_stores) {
      REQUIRE(index < l.stored.size());
      targets.push_back(l.stored[index].first);
    }
    return targets;
  };
  using Names = std::vector<std::string>;
  CHECK(bare("UPDATE w SET card2 = card, note = 'x'") == Names{"card2"});
  CHECK(bare("UPDATE w SET card2 = o.card FROM other o WHERE o.id = w.id") == Names{"card2"});
  CHECK(bare("INSERT INTO w (id, card2) VALUES (1, NULL) ON CONFLICT (id) DO UPDATE "
             "SET card2 = excluded.card") == Names{"card2"});
  CHECK(bare("UPDATE w SET card2 = (card)") == Names{"card2"});  // parentheses change nothing
  for (const char* sql : {
           "UPDATE w SET card2.holder = card",
           "UPDATE w SET cards[1] = card",
           "UPDATE w SET card2 = row(card::text, 'x')",
           "UPDATE w SET card2 = card::text",
           "UPDATE w SET card2 = w.*",
           "UPDATE w SET (card2, note) = (SELECT card, note FROM o)",
           "INSERT INTO w (card2) SELECT card FROM o",
           "INSERT INTO w (card2) VALUES (NULL)",
           "MERGE INTO w USING o ON o.id = w.id WHEN MATCHED THEN UPDATE SET card2 = o.card",
           "UPDATE w SET card2 = x.card FROM (SELECT card FROM o) x",
           "UPDATE w SET card2 = card FROM XMLTABLE('/c' PASSING NULL COLUMNS card text) x",
           "UPDATE w SET card2 = card FROM f() x",
           "WITH o AS (SELECT 1) UPDATE w SET card2 = card",
       }) {
    INFO(sql);
    CHECK(bare(sql).empty());
  }
}

TEST_CASE("without column rules nothing is judged a copy") {
  const std::string text = R"(version: 1
resources:
  - name: db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: 5432}
masking:
  rules:
    - {name: pan, detector: pan}
)";
  auto r = loadPolicyText(text, "pan-only.yaml");
  REQUIRE(r.ok());
  CHECK(decideSql(*r.policy, "INSERT INTO archive SELECT * FROM cards").decision ==
        Decision::kAllow);
}

TEST_CASE("masking.copies takes block, review or allow; allow warns") {
  auto load = [](const std::string& value) {
    return loadPolicyText("version: 1\nmasking:\n  copies: " + value + "\n", "copies.yaml");
  };
  auto bad = load("sometimes");
  CHECK_FALSE(bad.ok());
  CHECK_THAT(joined(bad.errors), ContainsSubstring("copies"));
  auto allow = load("allow");
  REQUIRE(allow.ok());
  CHECK_THAT(joined(allow.warnings), ContainsSubstring("masking.copies: allow"));
  CHECK(load("review").ok());
  CHECK_THAT(joined(load("block").warnings), !ContainsSubstring("masking.copies"));
}

}  // namespace
}  // namespace tollgate::policy
