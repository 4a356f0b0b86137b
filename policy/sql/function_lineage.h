// What a database function's result is made of, read from its definition (pg_get_functiondef).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/sql/facts.h"
#include "policy/sql/lineage.h"

namespace tollgate::policy {

// A function as name-based masking sees it: `get_codes(OUT code text) AS 'SELECT cvv FROM
// cards'` returns cvv under the name `code`, and `SELECT get_codes()` under `get_codes`.
struct FunctionLineage {
  // The function's name and schema as its definition gives them (PostgreSQL's folding).
  std::string schema;
  std::string name;
  // What any value it returns may be made of: the result columns of every statement of a SQL
  // body; for PL/pgSQL, the result columns of every query and the value of every expression
  // in the body (its variables are not followed one by one). Functions it calls appear as
  // their call names (callName()). A body that cannot be read (another language, dynamic SQL,
  // a definition that does not parse) makes it a whole row: any column, masked whole.
  ColumnLineage result;
  // Relations its body reads (views among them carry renames of their own), and every column
  // it names anywhere (an error raised inside it may quote any of them; `row_reference`: a
  // whole row, or a body that cannot be read).
  std::vector<std::string> reads;
  std::vector<std::string> columns;
  bool row_reference = false;
  // What its body's statements store (OutputLineage::stored), each value's names followed
  // through that statement's renames: a call of it stores them too (masking.copies). A
  // PL/pgSQL variable stored carries what the body may put in it, from variable to variable
  // (`SELECT cvv INTO v FROM cards; UPDATE t SET note = v` stores `v` and `cvv`; an error's
  // text, any column the body names). Dynamic SQL is not followed.
  std::vector<std::pair<std::string, ColumnLineage>> stored;
  // Entries of `stored` whose whole_row comes only from `*` or `t.*` over tables
  // (OutputLineage::star_tables: `INSERT INTO archive SELECT * FROM orders`): the entry's index
  // and the tables' names. The session, which knows their columns, judges those instead.
  std::vector<std::pair<size_t, std::vector<std::string>>> star_tables;
  // Its body's statements that write, with only what tells which triggers they fire: writes,
  // type, inner_types, upserts (a call fires them too, and stores what they store).
  std::vector<StatementFacts> writes;
  // Every function its body calls, as StatementFacts::functions lists them ("schema.name",
  // "name"; a quoted name may hold dots): what they store, it does too. Functions its
  // parameters' defaults call are among them (a call that omits the argument runs the default).
  std::vector<std::string> called;
  // A value its body stores may be an argument (`INSERT INTO log (msg) VALUES (m)`, `$1`): a
  // call stores what its arguments are made of.
  bool stores_arguments = false;
  // Its body may create, alter or drop tables or types: a DDL or admin statement, CALL or DO
  // in it, dynamic SQL, or a body that cannot be read (another language, a definition that
  // does not parse). What the functions it calls do is the caller's to follow (`called`).
  bool may_change_tables = false;
  // The part of may_change_tables that is seen: a DDL or admin statement, CALL or DO in its body
  // (not dynamic SQL, nor a body that cannot be read).
  bool runs_ddl = false;
  // False when the definition did not parse as CREATE FUNCTION / PROCEDURE: name and schema
  // are then empty.
  bool parsed = false;
};

// Reads `definition`, the text pg_get_functiondef gives. `row_fields`: when the function
// returns a row type the caller knows (`RETURNS cards`, `SETOF cards`), its field names, which
// masking matches one by one; a result column of a SQL body that is the column of that name,
// not renamed anywhere in its statement (`SELECT id, cvv FROM cards`, `SELECT * FROM cards`),
// then adds nothing, since the field's own name masks it. Null for any other result.
FunctionLineage functionLineage(std::string_view definition,
                                const std::vector<std::string>* row_fields);

}  // namespace tollgate::policy
