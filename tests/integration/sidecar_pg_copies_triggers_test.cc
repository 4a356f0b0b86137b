// What the triggers and rules on the tables a write reaches store, and what PL/pgSQL variables
// carry to where a function's body stores them, judged as the write's own stores
// (masking.copies: refuse) through the real sidecar and a real PostgreSQL; a trigger whose
// function may change tables makes the columns read at login untrusted.
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "tests/integration/sidecar_pg_harness.h"

using Catch::Matchers::ContainsSubstring;
using namespace tollgate::testing;

TEST_CASE("what the triggers and rules of a write store is judged as the write's") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tg_trig_log, tg_trig_a, tg_trig_b, tg_trig_c, tg_trig_d, tg_trig_e, "
      "tg_trig_f, tg_trig_g, tg_trig_orders, tg_rule_t, tg_trig_parted, tg_people, "
      "tg_parted_orders, tg_dyn_orders, tg_mv cascade;"
      "create table tg_trig_log (id serial, row_data jsonb, note text, cvv text);"
      "create table tg_trig_a (id int primary key, holder text, cvv text);"
      "create table tg_trig_b (like tg_trig_a); create table tg_trig_c (like tg_trig_a);"
      "create table tg_trig_orders (id int primary key, total int);"
      "create table tg_rule_t (like tg_trig_a);"
      "create table tg_trig_parted (id int, holder text, cvv text) partition by list (id);"
      "create table tg_trig_part1 partition of tg_trig_parted for values in (1);"
      // An audit trigger logging whole rows, one copying the cvv where no rule masks it, one
      // copying it where the same rule does.
      "create or replace function tg_log_row() returns trigger language plpgsql as $$ begin "
      "insert into tg_trig_log (row_data) values (to_jsonb(new)); return new; end $$;"
      "create or replace function tg_log_cvv() returns trigger language plpgsql as $$ begin "
      "insert into tg_trig_log (note) values (new.cvv); return new; end $$;"
      "create or replace function tg_log_same() returns trigger language plpgsql as $$ begin "
      "new.holder := upper(new.holder); insert into tg_trig_log (cvv) values (new.cvv); "
      "return new; end $$;"
      // A BEFORE trigger copying the cvv into the row's note.
      "create table tg_trig_d (id int, holder text, cvv text, note text);"
      "create or replace function tg_note_cvv() returns trigger language plpgsql as $$ begin "
      "new.note := new.cvv; return new; end $$;"
      "create trigger d before insert on tg_trig_d for each row execute function tg_note_cvv();"
      // A trigger handing NEW to a function that stores its argument.
      "create table tg_trig_e (like tg_trig_a);"
      "create or replace function tg_log_payload(p jsonb) returns void language sql "
      "as $$ insert into tg_trig_log (row_data) values (p) $$;"
      "create or replace function tg_log_via() returns trigger language plpgsql as $$ begin "
      "perform tg_log_payload(to_jsonb(new)); return new; end $$;"
      "create trigger e after insert on tg_trig_e for each row execute function tg_log_via();"
      // An updatable view over a table with a trigger; an inheritance child with a cvv column
      // its parent does not have, and a trigger.
      "create or replace view tg_trig_a_v as select * from tg_trig_a;"
      "create table tg_people (id int, holder text);"
      "create table tg_card_people (cvv text) inherits (tg_people);"
      "create trigger cp after update on tg_card_people for each row "
      "execute function tg_log_row();"
      "insert into tg_card_people values (1, 'H', '9');"
      // A BEFORE trigger filling the note from the cards table (SELECT ... INTO NEW.note).
      "create table tg_trig_f (like tg_trig_d);"
      "create or replace function tg_note_from_cards() returns trigger language plpgsql as $$ "
      "begin select c.cvv into new.note from cards c order by c.id limit 1; return new; end $$;"
      "create trigger f before insert on tg_trig_f for each row "
      "execute function tg_note_from_cards();"
      // A partition with a whole-row audit trigger, of a table with no masked column.
      "create table tg_parted_orders (id int, total int) partition by list (id);"
      "create table tg_parted_orders1 partition of tg_parted_orders for values in (1);"
      "create trigger po after update on tg_parted_orders1 for each row "
      "execute function tg_log_row();"
      "insert into tg_parted_orders values (1, 1);"
      // Audit triggers through dynamic SQL: the written row, stored where the sidecar cannot
      // see; on a table with a masked column and on one without.
      "create or replace function tg_log_dynamic() returns trigger language plpgsql as $$ "
      "begin execute 'insert into tg_trig_log (row_data) values (to_jsonb($1))' using new; "
      "return new; end $$;"
      "create table tg_trig_g (like tg_trig_a); insert into tg_trig_g values (1, 'G', '8');"
      "create trigger g after update on tg_trig_g for each row execute function tg_log_dynamic();"
      "create table tg_dyn_orders (id int, total int); insert into tg_dyn_orders values (1, 1);"
      "create trigger dy after update on tg_dyn_orders for each row "
      "execute function tg_log_dynamic();"
      "create trigger a after update on tg_trig_a for each row execute function tg_log_row();"
      "create trigger b after insert on tg_trig_b for each row execute function tg_log_cvv();"
      "create trigger c before insert or update on tg_trig_c for each row "
      "execute function tg_log_same();"
      "create trigger o after update on tg_trig_orders for each row "
      "execute function tg_log_row();"
      "create trigger p after update on tg_trig_part1 for each row "
      "execute function tg_log_cvv();"
      // INSERT and DELETE triggers on a partition: an UPDATE through its partitioned table may
      // move a row, an UPDATE of the partition itself may not.
      "create table tg_mv (id int, holder text, cvv text) partition by list (id);"
      "create table tg_mv1 partition of tg_mv for values in (1);"
      "create table tg_mv2 partition of tg_mv for values in (2);"
      "insert into tg_mv values (1, 'M', '6');"
      "create trigger mv after insert or delete on tg_mv1 for each row "
      "execute function tg_log_cvv();"
      "create rule tg_rule_log as on insert to tg_rule_t do also "
      "insert into tg_trig_log (note) values (new.cvv);"
      "insert into tg_trig_a values (1, 'Ann', '123'); insert into tg_trig_c values (1, 'C', '1');"
      "insert into tg_trig_orders values (1, 1); insert into tg_trig_parted values (1, 'P', '7');"
      "truncate tg_trig_log;"
      "grant all on tg_trig_log, tg_trig_a, tg_trig_b, tg_trig_c, tg_trig_d, tg_trig_e, "
      "tg_trig_orders, tg_rule_t, tg_trig_parted, tg_trig_part1, tg_trig_a_v, tg_people, "
      "tg_card_people, tg_trig_f, tg_parted_orders, tg_parted_orders1, tg_trig_g, "
      "tg_dyn_orders, tg_mv, tg_mv1, tg_mv2 to app; grant all on "
      "sequence tg_trig_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "update tg_trig_a set holder = 'x' where id = 1;\n"
      "insert into tg_trig_b values (2, 'b', '999');\n"
      "insert into tg_trig_d (id, cvv) values (1, '555');\n"
      "insert into tg_trig_e values (1, 'e', '4');\n"
      "update tg_trig_a_v set holder = 'v' where id = 1;\n"
      "update tg_people set holder = 'x' where id = 1;\n"
      "insert into tg_trig_f (id) values (1);\n"
      "insert into tg_rule_t values (1, 'r', '111');\n"
      "update tg_trig_parted set holder = 'x' where id = 1;\n"
      "with d as (update tg_trig_a set holder = 'y' where id = 1 returning id) "
      "select count(*) from d;\n"
      "insert into tg_trig_a values (1, 'u', '1') on conflict (id) do update set holder = 'u';\n"
      "update tg_mv set holder = 'x' where id = 1;\n"
      // Allowed: no trigger on DELETE, nor on INSERT without ON CONFLICT DO UPDATE, nor on
      // UPDATE of a table whose rows cannot move; the cvv stored where the same rule masks it; a
      // whole row with no masked column.
      "delete from tg_trig_a where id = 99;\n"
      "insert into tg_trig_a values (2, 'n', '2');\n"
      "update tg_trig_b set holder = 'x' where id = 1;\n"
      "update tg_mv1 set holder = 'x' where id = 1;\n"
      "update tg_trig_c set holder = 'x' where id = 1;\n"
      "update tg_trig_orders set total = 2 where id = 1;\n"
      "update public.tg_trig_orders set total = 3 where id = 1;\n"
      "update tg_parted_orders set total = 2 where id = 1;\n"
      "update tg_dyn_orders set total = 2 where id = 1;\n"
      // What that trigger's dynamic SQL does is not followed: the tables stay trusted.
      "update tg_trig_orders set total = 4 where id = 1;\n"
      "update tg_trig_g set holder = 'x' where id = 1;\n"
      "select count(*) from tg_trig_log where note is not null or row_data ? 'cvv';\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 13);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column row_data"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column note"));
  CHECK_THAT(r.err, ContainsSubstring("a rule on a table it writes"));
  CHECK(r.out ==
        "DELETE 0\nINSERT 0 1\nUPDATE 0\nUPDATE 1\nUPDATE 1\nUPDATE 1\nUPDATE 1\nUPDATE 1\n"
        "UPDATE 1\nUPDATE 1\n0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_log", kPgAppDatabase) == "6\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_b", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_d", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_trig_f", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select holder from tg_trig_c", kPgAppDatabase) == "X\n");
}

TEST_CASE("what PL/pgSQL variables carry is judged where a body stores them") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tg_var_notes, tg_var_log, tg_var_t, tg_var_u cascade;"
      "create table tg_var_notes (id serial, note text);"
      "create table tg_var_log (row_data jsonb);"
      "create table tg_var_t (id int, holder text, cvv text);"
      "create table tg_var_u (like tg_var_t);"
      "insert into tg_var_t values (1, 'T', '321'); insert into tg_var_u values (1, 'U', '654');"
      // The cvv into a variable, then stored: through SELECT INTO, a record's renamed field, an
      // error's text (the failed cast quotes the value).
      "create or replace function tg_var_stash() returns void language plpgsql as $$ "
      "declare v text; begin select cvv into v from cards order by id limit 1; "
      "insert into tg_var_notes (note) values (v); end $$;"
      "create or replace function tg_var_loop() returns void language plpgsql as $$ "
      "declare r record; begin for r in select cvv as k from cards order by id loop "
      "insert into tg_var_notes (note) values (r.k); exit; end loop; end $$;"
      "create or replace function tg_var_err() returns void language plpgsql as $$ "
      "begin perform cvv::int / 0 from cards; exception when others then "
      "insert into tg_var_notes (note) values (sqlerrm); end $$;"
      // Only compared: the stored variable holds a constant.
      "create or replace function tg_var_check(given text) returns void language plpgsql as $$ "
      "declare v text; msg text := 'checked'; begin "
      "select cvv into v from cards order by id limit 1; "
      "if v is distinct from given then insert into tg_var_notes (note) values (msg); end if; "
      "end $$;"
      // Audit triggers logging the row through a record variable and through an ALIAS.
      "create or replace function tg_var_row() returns trigger language plpgsql as $$ "
      "declare r record; begin r := new; insert into tg_var_log (row_data) values (to_jsonb(r)); "
      "return new; end $$;"
      "create or replace function tg_var_alias() returns trigger language plpgsql as $$ "
      "declare n alias for new; begin insert into tg_var_log (row_data) values (to_jsonb(n)); "
      "return new; end $$;"
      "create trigger t after update on tg_var_t for each row execute function tg_var_row();"
      "create trigger u after update on tg_var_u for each row execute function tg_var_alias();"
      "grant all on tg_var_notes, tg_var_log, tg_var_t, tg_var_u to app;"
      "grant all on sequence tg_var_notes_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select tg_var_stash();\n"
      "select tg_var_loop();\n"
      "select tg_var_err();\n"
      "update tg_var_t set holder = 'x' where id = 1;\n"
      "update tg_var_u set holder = 'x' where id = 1;\n"
      "select tg_var_check('1');\n"
      "select count(*) from tg_var_notes;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 5);
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column note"));
  CHECK_THAT(r.err, ContainsSubstring("data masked by rule \"cvv\" in column row_data"));
  CHECK(r.out == "\n1\n");
  CHECK(pg.sqlOrThrow("select note from tg_var_notes", kPgAppDatabase) == "checked\n");
  CHECK(pg.sqlOrThrow("select count(*) from tg_var_log", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select holder from tg_var_t", kPgAppDatabase) == "T\n");
}

TEST_CASE("a trigger whose function may change tables makes the login's tables untrusted") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tc_orders, tc_archive, tc_evt, tc_plain cascade;"
      "create table tc_orders (id int, note text); create table tc_archive (id int, note text);"
      "insert into tc_orders values (1, 'n');"
      "create table tc_evt (id int); create table tc_plain (id int);"
      // Its temporary table shadows tc_orders for the rest of the session, with cvv where note
      // was; the column keeps its name, so the trigger itself stores nothing masked elsewhere.
      "create or replace function tc_shadow() returns trigger language plpgsql as $$ begin "
      "create temp table if not exists tc_orders as select id, cvv from cards; return null; end $$;"
      "create or replace function tc_count() returns trigger language plpgsql as $$ begin "
      "update tc_orders set note = note where id = new.id; return new; end $$;"
      "create trigger s after insert on tc_evt for each row execute function tc_shadow();"
      "create trigger c after insert on tc_plain for each row execute function tc_count();"
      // A function whose write fires that trigger.
      "create or replace function tc_add_evt() returns void language sql as "
      "$$ insert into tc_evt values (9) $$;"
      "grant all on tc_orders, tc_archive, tc_evt, tc_plain to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "insert into tc_plain values (1);\n"
      "insert into tc_archive select * from tc_orders;\n"
      "insert into tc_evt values (1);\n"
      "insert into tc_archive select * from tc_orders;\n"
      "select count(*) from tc_archive;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 1);
  CHECK_THAT(r.err, ContainsSubstring("in columns it does not name"));
  CHECK(r.out == "INSERT 0 1\nINSERT 0 1\nINSERT 0 1\n1\n");
  CHECK(pg.sqlOrThrow("select note from tc_archive", kPgAppDatabase) == "n\n");
  // In a new session, both in one Query message: the statement after the trigger's is judged
  // with the tables untrusted.
  r = sidecar.psql(
      "insert into tc_evt values (2)\\; insert into tc_archive select * from tc_orders;\n");
  CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  CHECK(pg.sqlOrThrow("select count(*) from tc_archive", kPgAppDatabase) == "1\n");
  // A statement prepared in the same Query before the trigger's write, judged by the tables
  // as they were, is refused when it is run after.
  r = sidecar.psql(
      "prepare p as insert into tc_archive select * from tc_orders\\; "
      "insert into tc_evt values (3);\n"
      "execute p;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.out == "PREPARE\nINSERT 0 1\n");
  CHECK_THAT(r.err, ContainsSubstring("prepared statement \"p\" stores a `*`"));
  CHECK(pg.sqlOrThrow("select count(*) from tc_archive", kPgAppDatabase) == "1\n");
  // The trigger fired by a called function's write.
  r = sidecar.psql(
      "select tc_add_evt();\n"
      "insert into tc_archive select * from tc_orders;\n");
  CHECK(r.out == "\n");
  CHECK_THAT(r.err, ContainsSubstring(kCopyRefused));
  CHECK(pg.sqlOrThrow("select count(*) from tc_archive", kPgAppDatabase) == "1\n");
}

TEST_CASE("a `*` a function stores stays judged by its tables beside a dynamic audit trigger") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists td_orders, td_archive, td_evt, td_log cascade;"
      "create table td_orders (id int, total int); insert into td_orders values (1, 10);"
      "create table td_archive (like td_orders); create table td_evt (id int);"
      "create table td_log (id serial, row_data jsonb);"
      // A generic audit trigger (dynamic SQL) on the archive; a trigger seen to run DDL.
      "create or replace function td_audit() returns trigger language plpgsql as $$ begin "
      "execute 'insert into td_log (row_data) values (to_jsonb($1))' using new; return new; "
      "end $$;"
      "create trigger a after insert on td_archive for each row execute function td_audit();"
      "create or replace function td_mktemp() returns trigger language plpgsql as $$ begin "
      "create temp table if not exists td_tmp (id int); return null; end $$;"
      "create trigger m after insert on td_evt for each row execute function td_mktemp();"
      "create or replace function td_archive_orders() returns void language sql as "
      "$$ insert into td_archive select * from td_orders $$;"
      // Its `*` comes after that trigger ran: the tables may have other columns by then.
      "create or replace function td_evt_then_archive() returns void language sql as "
      "$$ insert into td_evt values (1); insert into td_archive select * from td_orders $$;"
      "grant all on td_orders, td_archive, td_evt, td_log to app;"
      "grant all on sequence td_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select td_archive_orders();\n"
      "select td_evt_then_archive();\n"
      "select count(*) from td_log;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 1);
  CHECK(r.out == "\n1\n");
  CHECK(pg.sqlOrThrow("select count(*) from td_archive", kPgAppDatabase) == "1\n");
}

TEST_CASE("a history trigger's NEW.* and OLD.* are judged by the written table's columns") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists th_orders, th_orders_hist, th_cards, th_cards_hist, new, th_evt, "
      "th_orders_2026, th_cards_2026 cascade;"
      "create table th_orders (id int, total int); insert into th_orders values (1, 10);"
      "create table th_orders_hist (op text, at timestamptz, id int, total int);"
      "create table th_cards (id int, holder text, cvv text);"
      "insert into th_cards values (1, 'H', '123');"
      "create table th_cards_hist (op text, at timestamptz, id int, holder text, cvv text);"
      // As in PostgreSQL's own audit trigger example.
      "create or replace function th_orders_audit() returns trigger language plpgsql as $$ "
      "begin insert into th_orders_hist select 'U', now(), old.*; return null; end $$;"
      "create or replace function th_cards_audit() returns trigger language plpgsql as $$ "
      "begin insert into th_cards_hist select 'U', now(), new.*; return null; end $$;"
      "create trigger h after update on th_orders for each row "
      "execute function th_orders_audit();"
      "create trigger h after update on th_cards for each row execute function th_cards_audit();"
      // A table named new is no trigger row.
      "create table new (id int, cvv text); insert into new values (1, '999');"
      "create table th_evt (id int);"
      "create or replace function th_copy_new() returns trigger language plpgsql as $$ "
      "begin insert into th_orders_hist (id, op) select * from new; return null; end $$;"
      "create trigger n after insert on th_evt for each row execute function th_copy_new();"
      // Partitions routed to by a trigger, as before declarative partitioning.
      "create table th_orders_2026 (like th_orders); create table th_cards_2026 (like th_cards);"
      "create or replace function th_orders_route() returns trigger language plpgsql as $$ "
      "begin insert into th_orders_2026 values (new.*); return null; end $$;"
      "create trigger r before insert on th_orders for each row "
      "execute function th_orders_route();"
      "create or replace function th_cards_route() returns trigger language plpgsql as $$ "
      "begin insert into th_cards_2026 values (new.*); return null; end $$;"
      "create trigger r before insert on th_cards for each row execute function th_cards_route();"
      "grant all on th_orders, th_orders_hist, th_cards, th_cards_hist, new, th_evt, "
      "th_orders_2026, th_cards_2026 to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "update th_orders set total = 20 where id = 1;\n"
      "update th_cards set holder = 'x' where id = 1;\n"
      "insert into th_evt values (1);\n"
      "insert into th_orders values (2, 30);\n"
      "insert into th_cards values (2, 'H2', '456');\n"
      "select count(*) from th_orders_hist;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  // orders has no masked column; by position, cards' cvv could land in any history column (or
  // partition column).
  CHECK(countOf(r.err, kCopyRefused) == 3);
  CHECK_THAT(r.err, ContainsSubstring("in columns it does not name"));
  CHECK_THAT(r.err, ContainsSubstring("in column id"));
  CHECK(r.out == "UPDATE 1\nINSERT 0 0\n1\n");
  CHECK(pg.sqlOrThrow("select count(*) from th_cards_hist", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from th_orders_2026", kPgAppDatabase) == "1\n");
  CHECK(pg.sqlOrThrow("select count(*) from th_cards_2026", kPgAppDatabase) == "0\n");
}

TEST_CASE("after a trigger may have changed a type, its values are masked whole") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tt_wallets, tt_evt; drop type if exists tt_rec;"
      "create type tt_rec as (holder text, cvv text);"
      "create table tt_wallets (id int, rec tt_rec); create table tt_evt (id int);"
      "insert into tt_wallets values (1, row('Ann', '321'));"
      // It moves cvv first: read by the login's fields, it would be the holder.
      "create or replace function tt_move_cvv() returns trigger language plpgsql as $$ begin "
      "alter type tt_rec drop attribute holder, add attribute holder text; return null; end $$;"
      "create trigger m after insert on tt_evt for each row execute function tt_move_cvv();"
      "alter type tt_rec owner to app; alter table tt_wallets owner to app;"
      "alter table tt_evt owner to app; alter function tt_move_cvv() owner to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select rec from tt_wallets;\n"
      "insert into tt_evt values (1);\n"
      "select rec from tt_wallets;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, !ContainsSubstring("321"));
  CHECK(r.out == "(Ann,***)\nINSERT 0 1\n******\n");  // (321,) masked whole
}

TEST_CASE("the triggers a function's writes fire store with the call, cascades too") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tw_cards, tw_orders, tw_log, tw_stage cascade;"
      "create table tw_cards (id int, holder text, cvv text);"
      "create table tw_orders (id int, total int);"
      "create table tw_log (id serial, row_data jsonb);"
      "create table tw_stage (id int);"
      // An audit trigger logging whole rows, on a table with cvv and on one without.
      "create or replace function tw_audit() returns trigger language plpgsql as $$ begin "
      "insert into tw_log (row_data) values (to_jsonb(new)); return new; end $$;"
      "create trigger a after insert on tw_cards for each row execute function tw_audit();"
      "create trigger a after insert on tw_orders for each row execute function tw_audit();"
      // Functions writing them; a trigger on a third table writing cards rows (a cascade: the
      // copy of cvv into cvv is no leak, the audit trigger it fires is).
      "create or replace function tw_add_card() returns void language sql as "
      "$$ insert into tw_cards (id, holder, cvv) select id, holder, cvv from cards order by id "
      "limit 1 $$;"
      "create or replace function tw_add_order() returns void language plpgsql as "
      "$$ begin insert into tw_orders values (1, 10); end $$;"
      "create or replace function tw_fan_out() returns trigger language plpgsql as $$ begin "
      "insert into tw_cards (id, holder, cvv) select id, holder, cvv from cards where id = new.id; "
      "return new; end $$;"
      "create trigger f after insert on tw_stage for each row execute function tw_fan_out();"
      // More of the database's own functions than a statement's are followed.
      "do $$ begin for i in 1..65 loop execute format('create or replace function tw_f%s() "
      "returns int language sql as ''select 1''', i); end loop; end $$;"
      "grant all on tw_cards, tw_orders, tw_log, tw_stage to app;"
      "grant all on sequence tw_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, writeGrant());
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "select tw_add_card();\n"
      "insert into tw_stage values (1);\n"
      "select tw_add_order();\n"
      "insert into tw_cards (id, cvv) select id, cvv from cards where false;\n"
      "select count(*) from tw_log;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  CHECK(countOf(r.err, kCopyRefused) == 3);
  // Past the functions followed, the audit trigger on tw_cards is not reached: any column.
  std::string calls;
  for (int i = 1; i <= 65; ++i) {
    calls +=
        (i > 1 ? ", " : "") + std::string("tw_f") + std::to_string(i) + "() a" + std::to_string(i);
  }
  auto past = sidecar.psql("update tw_cards set holder = 'x' where id = 1 and exists (select " +
                           calls + ");\n");
  INFO("stdout: " << past.out << "\nstderr: " << past.err);
  CHECK_THAT(past.err, ContainsSubstring(kCopyRefused));
  CHECK_THAT(r.err, ContainsSubstring("in column row_data"));
  CHECK(r.out == "\n1\n");
  CHECK(pg.sqlOrThrow("select count(*) from tw_cards", kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tw_log where row_data ? 'cvv'", kPgAppDatabase) ==
        "0\n");
}

TEST_CASE("the triggers a foreign key's actions fire store with the write that acts") {
  auto& pg = sharedPg();
  pg.sqlOrThrow(
      "drop table if exists tk_owners, tk_accounts, tk_cards, tk_plain, tk_shops, tk_orders, "
      "tk_log, tk_banks, tk_pcards, tk_people, tk_wallets cascade;"
      "create table tk_log (id serial, row_data jsonb, note text);"
      // Cards two foreign keys away from their owners: deleting an owner deletes its accounts,
      // which deletes their cards; changing an account's id empties its cards' account.
      "create table tk_owners (id int primary key);"
      "create table tk_accounts (id int primary key, "
      "owner int references tk_owners on delete cascade);"
      "create table tk_cards (id int primary key, account int references tk_accounts "
      "on delete cascade on update set null, cvv text);"
      // A key with no action: a delete of what it references never writes it.
      "create table tk_shops (id int primary key);"
      "create table tk_plain (id int, shop int references tk_shops, cvv text);"
      // Orders, no masked column, deleted with their shop.
      "create table tk_orders (id int, shop int references tk_shops on delete cascade, "
      "total int);"
      // An audit trigger logging the whole old row; a TRUNCATE trigger copying cvv.
      "create or replace function tk_audit() returns trigger language plpgsql as $$ begin "
      "insert into tk_log (row_data) values (to_jsonb(old)); return null; end $$;"
      "create or replace function tk_keep_cvv() returns trigger language plpgsql as $$ begin "
      "insert into tk_log (note) select cvv from tk_cards; return null; end $$;"
      "create trigger a after delete or update on tk_cards for each row "
      "execute function tk_audit();"
      "create trigger t before truncate on tk_cards execute function tk_keep_cvv();"
      "create trigger a after delete on tk_plain for each row execute function tk_audit();"
      "create trigger a after delete on tk_orders for each row execute function tk_audit();"
      "insert into tk_owners values (1), (2); insert into tk_accounts values (10, 1), (20, 2);"
      "insert into tk_cards values (100, 10, '111'), (200, 20, '222');"
      "insert into tk_shops values (1); insert into tk_plain values (1, null, '333');"
      "insert into tk_orders values (1, 1, 10);"
      // Cards partitioned by the key an ON UPDATE CASCADE changes: the update moves a row into
      // the partition whose INSERT trigger logs it.
      "create table tk_banks (id int primary key); insert into tk_banks values (1);"
      "create table tk_pcards (id int, bank int references tk_banks on update cascade, "
      "cvv text) partition by list (bank);"
      "create table tk_pcards1 partition of tk_pcards for values in (1);"
      "create table tk_pcards2 partition of tk_pcards for values in (2);"
      "create or replace function tk_audit_new() returns trigger language plpgsql as $$ begin "
      "insert into tk_log (row_data) values (to_jsonb(new)); return null; end $$;"
      "create trigger n after insert on tk_pcards2 for each row execute function tk_audit_new();"
      "insert into tk_pcards values (1, 1, '444');"
      // A rule on what a cascade deletes.
      "create table tk_people (id int primary key); insert into tk_people values (1);"
      "create table tk_wallets (id int, person int references tk_people on delete cascade, "
      "cvv text); insert into tk_wallets values (1, 1, '555');"
      "create rule keep as on delete to tk_wallets do also "
      "insert into tk_log (note) values (old.cvv);"
      "grant all on tk_owners, tk_accounts, tk_cards, tk_plain, tk_shops, tk_orders, tk_log, "
      "tk_banks, tk_pcards, tk_people, tk_wallets to app; "
      "grant all on sequence tk_log_id_seq to app;",
      kPgAppDatabase);
  Sidecar sidecar(pg, adminGrant());  // its DDL runs
  REQUIRE(sidecar.ready());
  auto r = sidecar.psql(
      "delete from tk_shops where id = 1;\n"
      "delete from tk_owners where id = 1;\n"
      "update tk_accounts set id = 21 where id = 20;\n"
      "update tk_banks set id = 2 where id = 1;\n"
      "delete from tk_people where id = 1;\n"
      "truncate tk_owners cascade;\n"
      "select count(*) from tk_log;\n");
  INFO("stdout: " << r.out << "\nstderr: " << r.err << "\nsidecar log: " << sidecar.log());
  // The cascade's audit of a whole cards row, the update's, the moved row's, the rule's and the
  // TRUNCATE's copy are refused; the orders
  // rows a shop's delete logs are judged by the orders' columns, and tk_plain's trigger never
  // runs with it.
  CHECK(countOf(r.err, kCopyRefused) == 5);
  CHECK(r.out == "DELETE 1\n1\n");
  CHECK(pg.sqlOrThrow("select count(*) from tk_cards where account is not null", kPgAppDatabase) ==
        "2\n");
  CHECK(pg.sqlOrThrow("select count(*) from tk_log where row_data ? 'cvv' or note is not null",
                      kPgAppDatabase) == "0\n");
  CHECK(pg.sqlOrThrow("select count(*) from tk_pcards1", kPgAppDatabase) == "1\n");
  CHECK(pg.sqlOrThrow("select count(*) from tk_wallets", kPgAppDatabase) == "1\n");
}
