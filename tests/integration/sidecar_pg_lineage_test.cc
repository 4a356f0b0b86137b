// Column rules through the database's own views and functions, read at login, via the real
// sidecar and a real PostgreSQL: a masked column a view or a function's result renames, views of
// views, functions calling functions, OUT parameters, PL/pgSQL, SQL-standard bodies, and errors
// raised inside them that quote a masked value. The database's own types:
// sidecar_pg_types_test.cc.
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

namespace {

// `sql` fails with 22P02 on a value made from card 1's cvv (123): the error has it withheld.
void checkQuoteWithheld(Sidecar& sidecar, const char* sql) {
  auto r = sidecar.psql(sql);
  INFO(sql << "stderr: " << r.err);
  CHECK_THAT(r.err, ContainsSubstring("22P02"));
  CHECK_THAT(r.err, !ContainsSubstring("123"));
}

}  // namespace

TEST_CASE("column rules follow a masked column through the views that rename it") {
  auto& pg = sharedPg();
  const std::string drop =
      "drop function if exists tg_codes_fn(); drop view if exists tg_v_outer; "
      "drop view if exists tg_v_codes; drop view if exists \"tg.dotted\"; "
      "drop materialized view if exists tg_mv_codes;";
  pg.sqlOrThrow(drop +
                    "create view tg_v_codes as select id, holder, cvv as code, upper(cvv) as loud "
                    "from cards;"
                    "create view tg_v_outer as select id, code as k, holder as h from tg_v_codes;"
                    "create materialized view tg_mv_codes as select id, cvv as c from cards;"
                    "create view \"tg.dotted\" as select id, cvv as dc from cards;"
                    "create function tg_codes_fn() returns setof tg_v_codes language sql as "
                    "$$ select * from tg_v_codes where id = 1 $$;"
                    "alter view tg_v_codes owner to app; alter view tg_v_outer owner to app; "
                    "alter materialized view tg_mv_codes owner to app; alter view \"tg.dotted\" "
                    "owner to app; "
                    "alter function tg_codes_fn() owner to app",
                "payments");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select holder, code, loud from tg_v_codes where id = 1;\n"
      "select * from tg_v_codes where id = 1;\n"
      "select k, h from public.tg_v_outer where id = 1;\n"
      "select c from tg_mv_codes where id = 1;\n"
      "select to_jsonb(v) ->> 'code' from tg_v_codes v where id = 1;\n"
      "select dc from \"tg.dotted\" where id = 1;\n"
      "select tg_codes_fn();\n"
      "select holder, code, loud from tg_codes_fn();\n"  // fields named by the view's columns
      "begin;\n"
      "update tg_v_codes set holder = holder where id = 1 returning code;\n"
      "rollback;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK(r.out ==
        "Alice Visa|***|***\n"
        "1|Alice Visa|***|***\n"
        "***|Alice Visa\n"
        "***\n"
        "***\n"
        "***\n"
        "(1,\"Alice Visa\",***,***)\n"
        "Alice Visa|***|***\n"
        "BEGIN\n***\nUPDATE 1\nROLLBACK\n");
  // Errors that quote the renamed column's value have it withheld, also when the statement
  // names the inner view before the outer one.
  for (const char* sql :
       {"select (k || 'x')::int from tg_v_outer where id = 1;\n",
        "select (k || 'x')::int from tg_v_outer where exists (select 1 from public.tg_v_codes) "
        "and id = 1;\n"}) {
    checkQuoteWithheld(sidecar, sql);
  }
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
  // Views on cards would make every later catalog read lock cards.
  pg.sqlOrThrow(drop, "payments");
}

// Functions that return a masked column under another name: OUT parameters, RETURNS TABLE,
// scalar results, PL/pgSQL variables, BEGIN ATOMIC bodies, functions calling functions, views
// calling functions and procedures' OUT parameters. The session reads their definitions.
TEST_CASE("column rules follow a masked column through the functions that return it") {
  auto& pg = sharedPg();
  const std::string drop =
      "drop view if exists tg_v_fn; drop function if exists tg_f_out(); "
      "drop function if exists tg_f_table(); drop function if exists tg_f_nested(); "
      "drop function if exists tg_f_scalar(int); drop function if exists tg_f_next(); "
      "drop function if exists tg_f_atomic(); drop function if exists tg_f_dyn(); "
      "drop function if exists tg_f_holder(); drop procedure if exists tg_p_out(text); "
      "drop function if exists tg_f_ret(int); drop function if exists tg_f_viewbody(); "
      "drop view if exists tg_v_fnbody; drop function if exists tg_code(cards); "
      "drop function if exists tg_f_chk(); drop function if exists tg_f_rows(); "
      "drop function if exists tg_f_swap(); drop function if exists tg_cvv_of(cards); "
      "drop table if exists tg_fcards;";
  pg.sqlOrThrow(
      drop +
          "create function tg_f_out(out code text) returns setof text language sql as "
          "$$ select cvv from cards where id = 1 $$;"
          "create function tg_f_table() returns table(code text, h text) language plpgsql as "
          "$$ begin return query select cvv, holder from cards where id = 1; end $$;"
          "create function tg_f_scalar(i int) returns text language sql as "
          "$$ select k from (select cvv as k, id from cards) s where id = i $$;"
          "create function tg_f_nested() returns text language sql as $$ select tg_f_scalar(1) $$;"
          "create function tg_f_next() returns table(code text) language plpgsql as "
          "$$ declare v text; begin select cvv into v from cards where id = 1; code := v; "
          "return next; end $$;"
          "create function tg_f_atomic(out code text) language sql begin atomic "
          "select cvv from cards where id = 1; end;"
          "create function tg_f_dyn() returns setof text language plpgsql as "
          "$$ begin return query execute 'select cvv from cards where id = 1'; end $$;"
          "create function tg_f_holder() returns text language sql as "
          "$$ select holder from cards where id = 1 $$;"
          "create procedure tg_p_out(out code text) language plpgsql as "
          "$$ begin select cvv into code from cards where id = 1; end $$;"
          "create view tg_v_fn as select id, tg_f_scalar(id) as c from cards;"
          "alter view tg_v_fn owner to app;"
          // SQL-standard body; a view read inside a function; attribute notation; an error
          // inside a function; a table's row type returned by SELECT *.
          "create function tg_f_ret(i int) returns text language sql "
          "return (select cvv from cards where id = i);"
          "create view tg_v_fnbody as select id, cvv as code from cards;"
          "alter view tg_v_fnbody owner to app;"
          "create function tg_f_viewbody() returns setof text language sql as "
          "$$ select code from tg_v_fnbody where id = 1 $$;"
          "create function tg_code(cards) returns text language sql as $$ select $1.cvv $$;"
          "create function tg_f_chk() returns bigint language sql as "
          "$$ select count(*) from cards where (cvv || 'x')::int > 0 $$;"
          "create table tg_fcards (holder text, cvv text);"
          "insert into tg_fcards values ('ann', '123');"
          "alter table tg_fcards owner to app;"
          "create function tg_f_rows() returns setof tg_fcards language sql as "
          "$$ select * from tg_fcards $$;"
          // `*` over a sub-select fills the fields by position; a row parameter.
          "create function tg_f_swap() returns setof tg_fcards language sql as "
          "$$ select * from (select cvv, holder from tg_fcards) s $$;"
          "create function tg_cvv_of(cards) returns text language sql as "
          "$$ select to_jsonb($1)->>'cvv' $$;",
      "payments");
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select * from tg_f_out();\n"
      "select f.code from tg_f_out() f;\n"
      "select tg_f_out();\n"
      "select code, h from tg_f_table();\n"
      "select tg_f_scalar(1) as x, upper(public.tg_f_scalar(1));\n"
      "select tg_f_scalar(1) as x, upper(public.tg_f_scalar(1));\n"  // remembered resolution
      "select tg_f_nested();\n"
      "select * from tg_f_next();\n"
      "select * from tg_f_atomic();\n"
      "select c from tg_v_fn where id = 1;\n"
      "select tg_f_holder();\n"
      "call tg_p_out(null);\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  // tg_f_table returns holder beside cvv: anything a function returns counts for each of its
  // columns (holder has a rule of its own, which comes first).
  CHECK(r.out ==
        "***\n***\n***\n***|***** ****\n***|***\n***|***\n***\n***\n***\n***\nAlice Visa\n***\n");
  r = sidecar.psql(
      "select tg_f_ret(1);\n"
      "select tg_f_out.code from tg_f_out();\n"
      "select tg_f_viewbody();\n"
      "select c.tg_code from cards c where id = 1;\n"
      "select tg_f_rows();\n"
      "select tg_f_rows()::text;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  // The row type keeps its fields masked by name; cast to text it has lost them: masked whole.
  const std::string kTyped = "***\n***\n***\n***\n(ann,***)\n";
  REQUIRE(r.out.rfind(kTyped, 0) == 0);
  const std::string cast = r.out.substr(kTyped.size());
  CHECK(cast.size() > 2);
  CHECK(cast.find_first_not_of('*') == cast.size() - 1);
  for (const char* sql : {"select * from tg_f_swap();\n", "select tg_f_swap();\n",
                          "select c.tg_cvv_of from cards c where id = 1;\n"}) {
    r = sidecar.psql(sql);
    INFO(sql << "stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.size() > 2);
    CHECK_THAT(r.out, !ContainsSubstring("123"));
  }
  checkQuoteWithheld(sidecar, "select tg_f_chk();\n");
  // Dynamic SQL cannot be read: masked whole with the first column rule.
  r = sidecar.psql("select * from tg_f_dyn();\n");
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("123") == std::string::npos);
  // An error quoting what the function read has it withheld.
  checkQuoteWithheld(sidecar, "select (tg_f_scalar(1) || 'x')::int;\n");
  // So when it is an EXECUTE's argument.
  checkQuoteWithheld(sidecar,
                     "prepare tg_p(int) as select $1;\n"
                     "execute tg_p((tg_f_scalar(1) || 'x')::int);\n");
  CHECK(cardNumbersInAuditAndLog(sidecar).empty());
  pg.sqlOrThrow(drop, "payments");
}

// pg_get_viewdef locks the tables a view reads: with one held for ALTER TABLE, the catalog read
// gives up on the definitions after its lock_timeout and the session goes on with the views'
// columns masked whole, instead of waiting for the lock.
