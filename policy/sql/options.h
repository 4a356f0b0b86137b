// Statement options and constants in the parse tree (DefElem lists, A_Const): booleans as
// PostgreSQL reads them, constants' text, READ WRITE, and the row format of COPY ... TO STDOUT.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "policy/sql/facts.h"

namespace tollgate::policy::sql {

// The lower-cased value of a string constant (A_Const sval), or "" for anything else.
std::string constantString(const nlohmann::json& v);

// A constant's text: a string lower-cased, an integer in decimal (libpg_query omits an ival of
// 0); "" for anything else.
std::string constantValue(const nlohmann::json& v);

// True for a value the client supplies: a constant or a parameter ($1), cast or not.
bool isClientValue(const nlohmann::json& v);

// True when transaction options (BEGIN, START TRANSACTION, SET TRANSACTION, SET SESSION
// CHARACTERISTICS; nullable) include READ WRITE.
bool readWriteRequested(const nlohmann::json* options);

// PostgreSQL's boolean option parsing (defGetBoolean) of a DefElem: no argument is true,
// unknown values count as true.
bool optionTrue(const nlohmann::json& defelem);

// The row format COPY ... TO STDOUT `options` (a CopyStmt's "options" list, nullable) ask for,
// PostgreSQL's defaults where not given. The values are string literals: a caller sharing facts
// across statements of one shape must not share these.
CopyOutFormat copyOutFormat(const nlohmann::json* options);

}  // namespace tollgate::policy::sql
