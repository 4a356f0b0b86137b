// Tests for the session's type catalog (type_catalog.h), the record text form (record_text.h)
// and column rules on composite fields (composite_masking.h, structured_values.h with types).
#include "sidecar/postgres/type_catalog.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "sidecar/postgres/composite_masking.h"
#include "sidecar/postgres/record_text.h"
#include "sidecar/postgres/structured_values.h"
#include "sidecar/postgres/wire.h"
#include "tests/sidecar/postgres_test_bytes.h"
#include "tests/sidecar/postgres_test_masker.h"
#include "tests/sidecar/postgres_test_values.h"

namespace tollgate::sidecar::postgres {
namespace {

using testing::i32;
using testing::int8;
using testing::Opt;
using testing::record;

// A one-dimensional array_send value.
std::string array(uint32_t element, const std::vector<std::string>& elems) {
  return testing::array(element, {static_cast<int32_t>(elems.size())},
                        std::vector<Opt>(elems.begin(), elems.end()));
}

constexpr uint32_t kPanDomain = 16400;   // domain over int8
constexpr uint32_t kPanDomain2 = 16401;  // domain over kPanDomain
constexpr uint32_t kCardRec = 16410;     // (holder text, pan text, cvv text, cvv_int int4)
constexpr uint32_t kCardRecArray = 16409;
constexpr uint32_t kWallet = 16420;  // (label text, card cardrec)

// One DataRow's values as the catalog query returns them (text format).
bool addRow(TypeCatalog& catalog, const std::vector<Opt>& values) {
  std::string raw;
  for (const Opt& v : values) raw += v ? testing::value(*v) : testing::nullValue();
  return catalog.addRow(ValueList(static_cast<uint16_t>(values.size()), raw));
}

TypeCatalog sampleCatalog() {
  TypeCatalog c;
  REQUIRE(addRow(c, {"d", "16400", "20", std::nullopt, std::nullopt, "1"}));
  REQUIRE(addRow(c, {"d", "16401", "16400", std::nullopt, std::nullopt, "1"}));
  REQUIRE(addRow(c, {"c", "16410", "16409", "holder", "25", "1"}));
  REQUIRE(addRow(c, {"c", "16410", "16409", "pan", "25", "1"}));
  REQUIRE(addRow(c, {"c", "16410", "16409", "cvv", "25", "1"}));
  REQUIRE(addRow(c, {"c", "16410", "16409", "cvv_int", "23", "1"}));
  REQUIRE(addRow(c, {"c", "16420", "16419", "label", "25", "1"}));
  REQUIRE(addRow(c, {"c", "16420", "16419", "card", "16410", "1"}));
  REQUIRE(addRow(c, {"r", "16440", "16400", std::nullopt, "16441", "0"}));  // range of kPanDomain
  REQUIRE(addRow(c, {"t", "16410", "16500", "card", "16410", "2"}));        // a table column
  REQUIRE(addRow(c, {"t", "16409", "16501", "cards", "16409", "3"}));
  return c;
}

// The rows of one view: its definition (attnum -1), its name (0), its columns (1..).
void addView(TypeCatalog& c, const std::string& oid, const std::string& name,
             const std::string& definition, const std::vector<std::string>& columns) {
  REQUIRE(addRow(c, {"v", oid, "0", definition, "0", "-1"}));
  REQUIRE(addRow(c, {"v", oid, "0", name, "0", "0"}));
  for (size_t i = 0; i < columns.size(); ++i) {
    REQUIRE(addRow(c, {"v", oid, "0", columns[i], "0", std::to_string(i + 1)}));
  }
}

TEST_CASE("the type catalog follows view columns to what their definitions make them of") {
  TypeCatalog c;
  addView(c, "17000", "codes", " SELECT cards.id, cards.cvv AS code FROM cards;", {"id", "code"});
  // A view over it; and one whose definition the analyser cannot follow.
  addView(c, "17010", "outer_codes", " SELECT codes.code AS k FROM codes;", {"k"});
  addView(c, "17020", "broken", " SELECT FROM WHERE;", {"x"});
  // One calling functions outside its columns.
  addView(c, "17050", "guarded", " SELECT o.id FROM gen_rows() o WHERE audit_read(o.id);", {"id"});
  CHECK_FALSE(addRow(c, {"v", "17030", "0", "y", "0", "one"}));  // attnum not a number
  CHECK_FALSE(c.hasViews());                                     // not resolved yet
  policy::SqlAnalyzer analyzer;
  c.resolveViews(analyzer, 1 << 20);
  REQUIRE(c.hasViews());
  // The one view a name stands for (the test's names are unambiguous).
  auto one = [&](const std::string& relation) -> const TypeCatalog::ViewLineage* {
    auto found = c.views(relation);
    return found.size() == 1 ? found.front() : nullptr;
  };
  const TypeCatalog::ViewLineage* codes = one("public.codes");
  REQUIRE(codes != nullptr);
  CHECK(one("codes") == codes);
  REQUIRE(codes->columns.size() == 2);
  CHECK(codes->columns[1].first == "code");
  const auto& sources = codes->columns[1].second.sources;
  CHECK(std::find(sources.begin(), sources.end(), "cvv") != sources.end());
  CHECK_FALSE(codes->columns[1].second.whole_row);
  CHECK(codes->reads == std::vector<std::string>{"cards"});
  const TypeCatalog::ViewLineage* outer = one("outer_codes");
  REQUIRE(outer != nullptr);
  CHECK(outer->reads == std::vector<std::string>{"codes"});
  CHECK(outer->functions.empty());
  const TypeCatalog::ViewLineage* guarded = one("guarded");
  REQUIRE(guarded != nullptr);
  auto calls = [&](const std::string& f) {
    return std::find(guarded->functions.begin(), guarded->functions.end(), f) !=
           guarded->functions.end();
  };
  CHECK(calls("gen_rows"));
  CHECK(calls("audit_read"));
  CHECK(std::find(guarded->named.begin(), guarded->named.end(), "id") != guarded->named.end());
  CHECK_FALSE(guarded->named_rows);
  const TypeCatalog::ViewLineage* broken = one("broken");
  REQUIRE(broken != nullptr);
  REQUIRE(broken->columns.size() == 1);
  CHECK(broken->columns[0].second.whole_row);  // not followed: may hold any column
  CHECK(broken->named_rows);
  CHECK(c.views("cards").empty());
  // A quoted name with a dot, and a view of its last part in another schema: both count.
  addView(c, "17040", "x.codes", " SELECT 1 AS code;", {"code"});
  c.resolveViews(analyzer, 1 << 20);
  CHECK(c.views("x.codes").size() == 2);
  CHECK(c.views("public.x.codes").size() == 2);
  CHECK(c.views("y.codes").size() == 1);
  // A definition over the size limit is not analysed either.
  c.resolveViews(analyzer, 8);
  REQUIRE(one("outer_codes") != nullptr);
  CHECK(one("outer_codes")->columns[0].second.whole_row);
}

TEST_CASE("what a composite value carries is named by its fields, nested and in arrays") {
  TypeCatalog c = sampleCatalog();
  using Names = std::vector<std::string>;
  Names names;
  bool whole = false;
  c.addFieldNames(kWallet, &names, &whole);
  CHECK(names == Names{"label", "card", "holder", "pan", "cvv", "cvv_int"});
  names.clear();
  c.addFieldNames(kCardRecArray, &names, &whole);
  CHECK(names == Names{"holder", "pan", "cvv", "cvv_int"});
  names.clear();
  c.addFieldNames(kPanDomain, &names, &whole);  // no fields
  CHECK(names.empty());
  CHECK_FALSE(whole);
  // An array of a domain over a composite (the domain's row names its array type).
  REQUIRE(addRow(c, {"d", "16450", std::to_string(kCardRec), std::nullopt, "16451", "1"}));
  CHECK(c.compositeOfArray(16451) == kCardRec);
  c.addFieldNames(16451, &names, &whole);
  CHECK(names == Names{"holder", "pan", "cvv", "cvv_int"});
  names.clear();
  // A view's row type: its columns, and what each is made of.
  addView(c, "17000", "codes", " SELECT cards.id, cards.cvv AS code FROM cards;", {"id", "code"});
  REQUIRE(addRow(c, {"c", "17001", "17002", "id", "23", "1"}));
  REQUIRE(addRow(c, {"c", "17001", "17002", "code", "25", "2"}));
  REQUIRE(addRow(c, {"v", "17000", "17001", "codes", "0", "0"}));
  policy::SqlAnalyzer analyzer;
  c.resolveViews(analyzer, 1 << 20);
  c.addFieldNames(17001, &names, &whole);
  CHECK(std::find(names.begin(), names.end(), "code") != names.end());
  CHECK(std::find(names.begin(), names.end(), "cvv") != names.end());
}

// The rows of one function: its definition (attnum -1) and its name (0); it returns void.
// `quoted`: the name as the definition spells it, when not `name` itself.
void addFunction(TypeCatalog& c, const std::string& oid, const std::string& name,
                 const std::string& language, const std::string& body,
                 const std::string& quoted = "") {
  REQUIRE(addRow(c, {"p", oid, "2278",
                     "CREATE OR REPLACE FUNCTION public." + (quoted.empty() ? name : quoted) +
                         "()\n RETURNS void\n LANGUAGE " + language + "\nAS $function$" + body +
                         "$function$\n",
                     "0", "-1"}));
  REQUIRE(addRow(c, {"p", oid, "2278", name, "0", "0"}));
}

TEST_CASE("a function may change tables when its body may, and is seen to when it runs DDL") {
  TypeCatalog c;
  addFunction(c, "18000", "plain", "sql", " SELECT 1 ");
  addFunction(c, "18001", "make_temp", "plpgsql", " BEGIN CREATE TEMP TABLE t (id int); END ");
  addFunction(c, "18002", "wrapper", "sql", " SELECT plain(); SELECT make_temp() ");
  // A quoted name holding a dot.
  addFunction(c, "18006", "mk.tmp", "plpgsql", " BEGIN CREATE TEMP TABLE t (id int); END ",
              "\"mk.tmp\"");
  // Dynamic SQL: it may, but nothing is seen to.
  addFunction(c, "18008", "dynamic", "plpgsql", " BEGIN EXECUTE 'SELECT 1'; END ");
  policy::SqlAnalyzer analyzer;
  c.resolveViews(analyzer, 1 << 20);
  auto flags = [](const TypeCatalog& catalog, std::string_view name) {
    const TypeCatalog::FunctionResult* f = catalog.function(name);
    REQUIRE(f != nullptr);
    return std::make_pair(f->may_change_tables, f->runs_ddl);
  };
  CHECK(flags(c, "plain") == std::make_pair(false, false));
  CHECK(flags(c, "make_temp") == std::make_pair(true, true));
  CHECK(flags(c, "mk.tmp") == std::make_pair(true, true));
  CHECK(flags(c, "dynamic") == std::make_pair(true, false));
  // What the functions it calls do is the caller's to follow (the session's resolution, through
  // `called`), not the function's own.
  CHECK(flags(c, "wrapper") == std::make_pair(false, false));
  const TypeCatalog::FunctionResult* wrapper = c.function("wrapper");
  CHECK(std::find(wrapper->called.begin(), wrapper->called.end(), "make_temp") !=
        wrapper->called.end());
  CHECK(c.function("lower") == nullptr);  // not the database's own
  // A definition over the size limit is not read: it may.
  TypeCatalog small;
  addFunction(small, "18000", "plain", "sql", " SELECT 1 ");
  small.resolveViews(analyzer, 16);
  CHECK(flags(small, "plain") == std::make_pair(true, false));
}

TEST_CASE("the triggers a write fires name the functions they run, by event") {
  TypeCatalog c;
  CHECK_FALSE(c.hasTriggers());
  addFunction(c, "18200", "audit_row", "plpgsql", " BEGIN RETURN NEW; END ");
  addFunction(c, "18201", "on_delete", "plpgsql", " BEGIN RETURN OLD; END ");
  constexpr int kInsertUpdate = TypeCatalog::kInsertEvent | TypeCatalog::kUpdateEvent;
  REQUIRE(addRow(c, {"g", "18200", "0", "orders", "0", std::to_string(kInsertUpdate)}));
  REQUIRE(addRow(c, {"g", "18201", "0", "orders", "0", "8"}));
  REQUIRE(addRow(c, {"g", "18999", "0", "orders", "0", "60"}));  // not held: an extension's
  REQUIRE(addRow(c, {"g", "0", "0", "ruled", "0", "4"}));        // a rule on INSERT
  REQUIRE(addRow(c, {"g", "18200", "0", "unread_events", "0", "x"}));
  // A trigger of an inheritance child, under its parent's name.
  REQUIRE(addRow(c, {"g", "18200", "0", "people", "0", std::to_string(4 | 64)}));
  CHECK_FALSE(addRow(c, {"g", "18200", "0", std::nullopt, "0", "4"}));  // no relation
  CHECK(c.hasTriggers());
  std::vector<std::string> functions;
  TypeCatalog::Fired fired = c.addTriggerFunctions("orders", TypeCatalog::kUpdateEvent, &functions);
  CHECK(fired.functions);
  CHECK_FALSE(fired.rule);
  CHECK_FALSE(fired.wider_rows);
  CHECK(functions == std::vector<std::string>{"audit_row"});
  CHECK(c.addTriggerFunctions("shop.orders", TypeCatalog::kAnyRowEvent, &functions).functions);
  CHECK(functions == std::vector<std::string>{"audit_row", "on_delete"});
  functions.clear();
  fired = c.addTriggerFunctions("orders", TypeCatalog::kTruncateEvent, &functions);
  CHECK_FALSE((fired.functions || fired.rule));
  fired = c.addTriggerFunctions("other", TypeCatalog::kAnyRowEvent, &functions);
  CHECK_FALSE((fired.functions || fired.rule));
  CHECK_FALSE(c.addTriggerFunctions("ruled", TypeCatalog::kDeleteEvent, &functions).rule);
  fired = c.addTriggerFunctions("ruled", TypeCatalog::kInsertEvent, &functions);
  CHECK(fired.rule);
  CHECK_FALSE(fired.functions);
  CHECK(functions.empty());
  // Events that do not read: any.
  CHECK(c.addTriggerFunctions("unread_events", TypeCatalog::kTruncateEvent, &functions).functions);
  CHECK(c.addTriggerFunctions("people", TypeCatalog::kInsertEvent, &functions).wider_rows);
  // INSERT and DELETE triggers of a partition, under its partitioned table's name: an UPDATE
  // through that table may move a row; an UPDATE of the partition itself may not.
  REQUIRE(addRow(c, {"g", "18201", "0", "part1", "0", "12"}));
  REQUIRE(addRow(c, {"g", "18201", "0", "parted", "0", std::to_string(12 | 128)}));
  functions.clear();
  CHECK_FALSE(c.addTriggerFunctions("part1", TypeCatalog::kUpdateEvent, &functions).functions);
  CHECK(c.addTriggerFunctions("parted", TypeCatalog::kUpdateEvent, &functions).functions);
  CHECK(functions == std::vector<std::string>{"on_delete"});
  CHECK_FALSE(c.addTriggerFunctions("parted", TypeCatalog::kTruncateEvent, &functions).functions);
  CHECK(c.addTriggerFunctions("orders", TypeCatalog::kUpdateEvent, &functions).own_rows);
}

TEST_CASE("the triggers a foreign key's action fires see rows of the referencing table") {
  TypeCatalog c;
  addFunction(c, "18200", "audit_row", "plpgsql", " BEGIN RETURN OLD; END ");
  REQUIRE(addRow(c, {"l", "16800", "0", "cards,id,owner,cvv", "0", "0"}));
  // Listed under the referenced tables: owners' delete deletes cards rows; wallets' delete
  // updates rows of a table the catalog does not hold.
  REQUIRE(addRow(c, {"g", "18200", "16800", "owners", "0", "8"}));
  REQUIRE(addRow(c, {"g", "18200", "16999", "wallets", "0", "8"}));
  std::vector<std::string> functions;
  TypeCatalog::Fired fired = c.addTriggerFunctions("owners", TypeCatalog::kDeleteEvent, &functions);
  CHECK(fired.functions);
  CHECK_FALSE(fired.own_rows);
  CHECK_FALSE(fired.wider_rows);
  CHECK(fired.rows_of == std::vector<std::string>{"cards"});
  CHECK(functions == std::vector<std::string>{"audit_row"});
  CHECK_FALSE(c.addTriggerFunctions("owners", TypeCatalog::kInsertEvent, &functions).functions);
  // Rows it cannot name: any column of the relation written, and wider.
  fired = c.addTriggerFunctions("public.wallets", TypeCatalog::kDeleteEvent, &functions);
  CHECK(fired.own_rows);
  CHECK(fired.wider_rows);
  CHECK(fired.rows_of.empty());
}

TEST_CASE("a composite stored as its own type keeps its fields' names") {
  TypeCatalog c = sampleCatalog();  // table 16500 has card (kCardRec)
  REQUIRE(addRow(c, {"l", "16500", "0", "wallets,id,card,card2,cards,wallet,note", "0", "0"}));
  REQUIRE(addRow(c, {"t", "16410", "16500", "card2", "16410", "3"}));
  REQUIRE(addRow(c, {"t", "16409", "16500", "cards", "16409", "4"}));
  REQUIRE(addRow(c, {"t", "16420", "16500", "wallet", "16420", "5"}));
  // Two tables of one name (two schemas): card2 is kCardRec in one, text in the other.
  REQUIRE(addRow(c, {"l", "16600", "0", "mixed,card2", "0", "0"}));
  REQUIRE(addRow(c, {"l", "16601", "0", "mixed,card2", "0", "0"}));
  REQUIRE(addRow(c, {"t", "16410", "16600", "card2", "16410", "1"}));
  // A foreign table (1 in the attnum column): the remote column may be text.
  REQUIRE(addRow(c, {"l", "16700", "0", "remote_wallets,card2", "0", "1"}));
  REQUIRE(addRow(c, {"t", "16410", "16700", "card2", "16410", "1"}));
  // A flag it cannot read counts as foreign.
  REQUIRE(addRow(c, {"l", "16701", "0", "odd,card2", "0", "x"}));
  REQUIRE(addRow(c, {"l", "16702", "0", "odd_null,card2", "0", std::nullopt}));
  REQUIRE(addRow(c, {"t", "16410", "16701", "card2", "16410", "1"}));
  REQUIRE(addRow(c, {"t", "16410", "16702", "card2", "16410", "1"}));
  // A local table sharing its name with a foreign one (another schema): not exempt either.
  REQUIRE(addRow(c, {"l", "16703", "0", "remote_wallets,card2", "0", "0"}));
  REQUIRE(addRow(c, {"t", "16410", "16703", "card2", "16410", "1"}));
  policy::SqlAnalyzer analyzer;
  c.resolveViews(analyzer, 1 << 20);
  const absl::flat_hash_set<uint32_t> card = {kCardRec};
  CHECK(c.keepsFields("wallets", "card2", card));
  CHECK(c.keepsFields("public.wallets", "card2", card));
  CHECK(c.keepsFields("wallets", "cards", card));             // an array of it
  CHECK(c.keepsFields("wallets", "card2", {kCardRecArray}));  // an element of an array
  CHECK_FALSE(c.keepsFields("wallets", "note", card));        // text
  CHECK_FALSE(c.keepsFields("wallets", "wallet", card));      // another composite type
  CHECK_FALSE(c.keepsFields("wallets", "card2", {kCardRec, kWallet}));
  CHECK_FALSE(c.keepsFields("wallets", "card2", {}));
  CHECK_FALSE(c.keepsFields("mixed", "card2", card));
  CHECK_FALSE(c.keepsFields("made_later", "card2", card));
  CHECK_FALSE(c.keepsFields("remote_wallets", "card2", card));
  CHECK_FALSE(c.keepsFields("odd", "card2", card));
  CHECK_FALSE(c.keepsFields("odd_null", "card2", card));
  std::vector<std::string> columns;  // a `*` over it still stores its columns
  CHECK(c.tableColumns("remote_wallets", &columns));
  CHECK(columns == std::vector<std::string>{"card2"});
}

TEST_CASE("the type catalog knows tables' columns, for a `*` a write stores") {
  TypeCatalog c;
  CHECK_FALSE(c.hasTables());
  REQUIRE(addRow(c, {"l", "18000", "0", "orders,id,total,note", "0", "0"}));
  // Names holding ',' or '\' come escaped; tables of one name in two schemas count together.
  REQUIRE(addRow(c, {"l", "18010", "0", R"(we\,ird\\x,a\,b,c\\d,cvv)", "0", "0"}));
  REQUIRE(addRow(c, {"l", "18020", "0", "orders,status", "0", "0"}));
  REQUIRE(addRow(c, {"l", "18030", "0", "empty", "0", "0"}));
  CHECK_FALSE(addRow(c, {"l", "18040", "0", ",a", "0", "0"}));          // no name
  CHECK_FALSE(addRow(c, {"l", "18050", "0", R"(bad\)", "0", "0"}));     // escapes nothing
  CHECK_FALSE(addRow(c, {"l", "18060", "0", std::nullopt, "0", "0"}));  // NULL
  addView(c, "17000", "codes", " SELECT cards.cvv AS code FROM cards;", {"code"});
  REQUIRE(addRow(c, {"l", "18070", "0", "codes,code", "0", "0"}));  // a table named like a view
  policy::SqlAnalyzer analyzer;
  c.resolveViews(analyzer, 1 << 20);
  REQUIRE(c.hasTables());
  std::vector<std::string> names;
  REQUIRE(c.tableColumns("orders", &names));
  CHECK(names == std::vector<std::string>{"id", "total", "note", "status"});
  names.clear();
  REQUIRE(c.tableColumns(R"(we,ird\x)", &names));
  CHECK(names == std::vector<std::string>{"a,b", R"(c\d)", "cvv"});
  names.clear();
  REQUIRE(c.tableColumns("empty", &names));
  CHECK(names.empty());
  // Not a table the catalog holds, or a name a view has too: the session cannot name what a
  // `*` over it stores.
  CHECK_FALSE(c.tableColumns("pg_stats", &names));
  CHECK_FALSE(c.tableColumns("made_later", &names));
  CHECK_FALSE(c.tableColumns("codes", &names));
  CHECK(names.empty());
  // More tables than it keeps: none is known.
  TypeCatalog many;
  for (size_t i = 0; i <= TypeCatalog::kMaxTables; ++i) {
    REQUIRE(addRow(
        many, {"l", std::to_string(20000 + i), "0", "t" + std::to_string(i) + ",a", "0", "0"}));
  }
  CHECK_FALSE(many.tableColumns("t1", &names));
  CHECK_FALSE(many.hasTables());
  TypeCatalog wide;  // or more bytes of names
  REQUIRE(addRow(wide, {"l", "18000", "0", "orders,id", "0", "0"}));
  REQUIRE(addRow(wide, {"l", "18010", "0", "wide," + std::string(TypeCatalog::kMaxTableBytes, 'c'),
                        "0", "0"}));
  CHECK_FALSE(wide.tableColumns("orders", &names));
  // Table rows do not count toward the catalog's row limit, so they never end a login.
  CHECK_FALSE(wide.truncated());
}

TEST_CASE("the type catalog reads domains and composite fields") {
  TypeCatalog c = sampleCatalog();
  CHECK(c.domainCount() == 2);
  CHECK(c.compositeCount() == 2);
  CHECK(c.resolve(kPanDomain2) == 20);  // through a domain over a domain
  CHECK(c.resolve(25) == 25);
  const auto* fields = c.fieldsOf(kCardRec);
  REQUIRE(fields != nullptr);
  REQUIRE(fields->size() == 4);
  CHECK((*fields)[2].name == "cvv");
  CHECK((*fields)[3].type_oid == 23);
  CHECK(c.fieldsOf(kPanDomain) == nullptr);
  CHECK(c.compositeOfArray(kCardRecArray) == kCardRec);
  CHECK(c.compositeOfArray(1009) == 0);
  // A composite type without fields is one row with NULL field columns.
  CHECK(addRow(c, {"c", "16430", "16429", std::nullopt, std::nullopt, "1"}));
  REQUIRE(c.fieldsOf(16430) != nullptr);
  CHECK(c.fieldsOf(16430)->empty());
}

TEST_CASE("the catalog query fits the server's version") {
  const std::string v13 = TypeCatalog::query(13), v15 = TypeCatalog::query(15),
                    v17 = TypeCatalog::query(17);
  CHECK(v13.find("rngmultitypid") == std::string::npos);  // multiranges came with 14
  CHECK(v15.find("rngmultitypid") != std::string::npos);
  CHECK(v15.find("transaction_timeout") == std::string::npos);  // a setting of 17
  CHECK(v17.find("SET LOCAL transaction_timeout = 0") != std::string::npos);
  CHECK(v15.rfind("BEGIN READ ONLY; ", 0) == 0);
  CHECK(v15.find("search_path = pg_catalog") != std::string::npos);
}

TEST_CASE("the type catalog ignores rows of another shape") {
  TypeCatalog c;
  CHECK_FALSE(addRow(c, {"d", "16400", "20", std::nullopt, "1"}));                   // five columns
  CHECK_FALSE(addRow(c, {"d", "x16400", "20", std::nullopt, std::nullopt, "1"}));    // not a number
  CHECK_FALSE(addRow(c, {"d", "16400", "16400", std::nullopt, std::nullopt, "1"}));  // itself
  CHECK_FALSE(addRow(c, {"d", "16400", std::nullopt, std::nullopt, std::nullopt, "1"}));
  CHECK_FALSE(addRow(c, {"b", "16400", "20", std::nullopt, std::nullopt, "1"}));  // not d or c
  CHECK_FALSE(addRow(c, {"c", "16410", "0", "pan", std::nullopt, "1"}));          // field type NULL
  CHECK_FALSE(addRow(c, {std::nullopt, "16400", "20", std::nullopt, std::nullopt, "1"}));
  CHECK(c.domainCount() == 0);
  CHECK(c.resolve(16400) == 16400);
}

TEST_CASE("record text is read and quoted as PostgreSQL does") {
  auto f = parseRecordText(R"((ann,"a ""b"" \\c",,""))");
  REQUIRE(f);
  REQUIRE(f->size() == 4);
  CHECK((*f)[0].value == "ann");
  CHECK((*f)[1].value == "a \"b\" \\c");
  CHECK((*f)[2].value == std::nullopt);  // NULL
  CHECK((*f)[3].value == "");            // empty string
  CHECK((*f)[1].begin == 5);
  auto one = parseRecordText("()");
  REQUIRE(one);
  CHECK(one->size() == 1);
  CHECK((*one)[0].value == std::nullopt);
  auto escaped = parseRecordText(R"((a\,b,c))");
  REQUIRE(escaped);
  CHECK((*escaped)[0].value == "a,b");
  for (const char* bad : {"", "(", "ann", "(a", "a)", "(\"a)", "(a\\)", "(\"a\\\")"}) {
    INFO(bad);
    CHECK_FALSE(parseRecordText(bad));
  }
  std::string out;
  appendRecordField(out, "plain");
  appendRecordField(out, "");
  appendRecordField(out, "a \"b\",\\(c)");
  CHECK(out == R"x(plain"""a ""b"",\\(c)")x");
}

TEST_CASE("column rules mask composite fields in text form") {
  TypeCatalog c = sampleCatalog();
  auto no_cvv = testing::panAndCvvMasker(false);
  c.bindRules(*no_cvv);
  CHECK(c.ruleInside(kWallet) == nullptr);
  auto masker = testing::panAndCvvMasker();
  c.bindRules(*masker);
  CHECK(c.ruleInside(kCardRec)->name == "cvv");
  CHECK(c.ruleInside(kWallet)->name == "cvv");
  CHECK(c.ruleInside(kCardRecArray)->name == "cvv");
  CHECK(c.ruleInside(25) == nullptr);
  CHECK(c.fieldRule(kCardRec, 2)->name == "cvv");
  CHECK(c.fieldRule(kCardRec, 0) == nullptr);
  CHECK(c.fieldRule(kCardRec, 9) == nullptr);
  // A value computed from a table column of such a type (`card::text`) carries the rule.
  CHECK(ruleCarriedBy(c, {"x", "card"})->name == "cvv");
  CHECK(ruleCarriedBy(c, {"cards"})->name == "cvv");
  CHECK(ruleCarriedBy(c, {"holder", "x"}) == nullptr);
  CHECK(*c.typesOfColumn("card") == std::vector<uint32_t>{kCardRec});
  CHECK(c.typesOfColumn("nope") == nullptr);

  std::string hit;
  bool failed = true;
  auto m =
      maskCompositeText(c, *masker, kCardRec, "(\"ann, jr\",4111111111111111,123,)", &hit, &failed);
  CHECK_FALSE(failed);
  CHECK(m == "(\"ann, jr\",4111111111111111,***,)");  // the detector is the caller's
  CHECK(hit == "cvv");
  m = maskCompositeText(c, *masker, kWallet, "(main,\"(bob,4111111111111111,789,7)\")", &hit,
                        &failed);
  CHECK_FALSE(failed);
  CHECK(m == "(main,\"(bob,4111111111111111,***,7)\")");
  // A NULL cvv stays NULL; nothing changed is nullopt.
  m = maskCompositeText(c, *masker, kCardRec, "(ann,x,,1)", &hit, &failed);
  CHECK_FALSE(failed);
  CHECK_FALSE(m);
  // Not a record of this type: the caller masks the value whole.
  for (const char* bad : {"(ann,x,123)", "ann", "(a,b,c,d,e)"}) {
    maskCompositeText(c, *masker, kCardRec, bad, &hit, &failed);
    CHECK(failed);
  }
  // After DDL in the session, no field is known for sure.
  c.markStale();
  maskCompositeText(c, *masker, kCardRec, "(ann,x,,1)", &hit, &failed);
  CHECK(failed);
}

// Red-team review: nested composites with many fields cost fields^depth to search for a rule
// when each lookup walked the tree again; bindRules() solves each type once.
TEST_CASE("rules inside deeply nested wide composites are found once per type") {
  TypeCatalog c;
  constexpr int kWidth = 1600;
  constexpr int kLevels = 4;
  for (int level = 0; level < kLevels; ++level) {
    const std::string oid = std::to_string(20000 + level);
    const std::string inner = level == 0 ? "25" : std::to_string(20000 + level - 1);
    for (int f = 0; f < kWidth; ++f) {
      REQUIRE(addRow(c, {"c", oid, "0", "f" + std::to_string(f), inner, std::to_string(f + 1)}));
    }
  }
  auto masker = testing::panAndCvvMasker();
  c.bindRules(*masker);  // would be 1600^4 planColumn calls without memoising
  CHECK(c.ruleInside(20000 + kLevels - 1) == nullptr);
}

TEST_CASE("binary values see through domains and name composite fields") {
  TypeCatalog c = sampleCatalog();
  c.bindRules(*testing::panAndCvvMasker());
  std::vector<uint32_t> leaves;
  auto leaf = [&](uint32_t type_oid, std::string_view) -> Opt {
    leaves.push_back(type_oid);
    return std::nullopt;
  };
  // An array of a domain over a domain over int8: each element reaches the leaf as an int8.
  const std::string nums = array(kPanDomain2, {int8(4111111111111111), int8(42)});
  CHECK_FALSE(maskBinaryValue(16402, nums, leaf, DatabaseTypes{&c, nullptr}));
  CHECK(leaves == std::vector<uint32_t>{20, 20});
  // A user-defined range (and multirange) of that domain: each bound is an int8 leaf.
  leaves.clear();
  const std::string bound = int8(4111111111111111);
  const std::string rng = std::string(1, '\x02') + i32(8) + bound;  // [x, infinity)
  CHECK_FALSE(maskBinaryValue(16440, rng, leaf, DatabaseTypes{&c, nullptr}));
  CHECK_FALSE(maskBinaryValue(16441, i32(1) + i32(static_cast<int32_t>(rng.size())) + rng, leaf,
                              DatabaseTypes{&c, nullptr}));
  CHECK(leaves == std::vector<uint32_t>{20, 20});
  bool multi = true;
  CHECK(c.rangeSubtype(16440, &multi) == kPanDomain);
  CHECK_FALSE(multi);
  CHECK(c.rangeSubtype(16441, &multi) == kPanDomain);
  CHECK(multi);
  CHECK(c.rangeSubtype(25, &multi) == 0);
  // Without the catalog they are unknown scalars (raw scan only).
  leaves.clear();
  CHECK_FALSE(maskBinaryValue(16402, nums, leaf));
  CHECK(leaves.empty());

  // A wallet holding a card: the field masker sees names; cvv is replaced, cvv_int is NULL.
  const std::string card =
      record({{25, "bob"}, {25, "4111111111111111"}, {25, "789"}, {23, i32(7)}});
  const std::string wallet = record({{25, "main"}, {kCardRec, card}});
  std::vector<std::string> names;
  auto field = [&](std::string_view name, uint32_t field_oid, std::string_view) {
    names.emplace_back(name);
    if (name == "cvv") return FieldMask{true, std::string("***")};
    if (name == "cvv_int") return FieldMask{true, std::nullopt};
    CHECK(field_oid != 0);
    return FieldMask{};
  };
  const FieldMasker fields(field);
  auto out = maskBinaryValue(kWallet, wallet, leaf, DatabaseTypes{&c, &fields});
  CHECK(names == std::vector<std::string>{"label", "card", "holder", "pan", "cvv", "cvv_int"});
  REQUIRE(out);
  const std::string want_card =
      record({{25, "bob"}, {25, "4111111111111111"}, {25, "***"}, {23, std::nullopt}});
  CHECK(*out == record({{25, "main"}, {kCardRec, want_card}}));
  // A record whose fields are not the type's in number or types (altered since the catalog
  // was read): its fields come without names.
  names.clear();
  const std::string short_card = record({{25, "bob"}, {25, "x"}});
  CHECK_FALSE(maskBinaryValue(kCardRec, short_card, leaf, DatabaseTypes{&c, &fields}));
  CHECK(names == std::vector<std::string>{"", ""});
  names.clear();
  const std::string retyped = record({{25, "bob"}, {25, "x"}, {23, i32(1)}, {23, i32(7)}});
  CHECK_FALSE(maskBinaryValue(kCardRec, retyped, leaf, DatabaseTypes{&c, &fields}));
  CHECK(names == std::vector<std::string>{"", "", "", ""});
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
