// The database's own types that masking must see through: domains (a domain over bigint inside
// a binary array or record) and composite types (the field names column rules match). Read
// once per session, after login, when masking rules are in force.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "policy/mask/masker.h"
#include "policy/sql/analyzer.h"
#include "policy/sql/lineage.h"
#include "sidecar/postgres/views.h"

namespace tollgate::sidecar::postgres {

class TypeCatalog {
 public:
  struct Field {
    std::string name;
    uint32_t type_oid = 0;
  };

  // The query the session sends (simple protocol, text results), one row per:
  // - domain (kind 'd': oid, base type, its array type in the field type column);
  // - field of a standalone composite type (kind 'c': oid, its array type, field name and
  //   type, in field order);
  // - user-defined range type (kind 'r': oid, subtype, multirange type);
  // - table, view or foreign table column of a composite, domain, range or array type (kind
  //   't': its type, name), so a value computed from it (`card::text`) is known to carry the
  //   composite's fields.
  // - view or materialized view outside pg_catalog and information_schema (kind 'v': oid, row
  //   type, then by attnum: -1 its definition (pg_get_viewdef), 0 its name, 1.. its columns),
  //   so column rules follow a masked column a view renames (`SELECT cvv AS code`).
  // - function or procedure outside pg_catalog and information_schema that no extension
  //   owns (kind 'p': oid, result type, then by attnum: -1 its definition
  //   (pg_get_functiondef), 0 its name), so column rules follow a masked column its result
  //   carries under another name (`get_codes(OUT code text) AS 'SELECT cvv FROM cards'`).
  // - table, partitioned table or foreign table outside pg_catalog and information_schema
  //   whose name no relation there has (kind 'l': oid, then "name,column,..." with '\\'
  //   before each ',' or '\\' of a name, and 1 in the attnum column for a foreign table or one with
  //   a foreign table among its partitions or inheritance children, at any depth), at most
  //   kMaxTables + 1, so a `*` over tables stores columns the session can name (tableColumns()).
  // - trigger running a function that is not one of the server's own, or rule (other than a
  //   view's), on a relation (kind 'g': the function's oid, 0 for a rule, the relation's name,
  //   events as tgtype's bits in the attnum column), once more under the name of each
  //   partitioned table or inheritance parent above it (kChildRowEvent set past an inheritance
  //   child, kMovedRowEvent past a partition), so what a write's triggers store is judged as
  //   the write's
  //   (addTriggerFunctions()).
  // Row types of tables no column and no function result uses are left out: a database has
  // one per table, and a whole-row value is masked whole under column rules anyway. Columns:
  // kind, oid, other type, name, type, attnum. The kinds sort the type definitions before the
  // table columns. It runs in a
  // read-only transaction of its own with no statement timeout and search_path pg_catalog.
  // `server_major`: the server's major version (server_version), 0 when unknown.
  // `view_definitions` false leaves the definitions NULL (views then masked whole): the
  // session's second try when a lock held up pg_get_viewdef.
  static std::string query(int server_major, bool view_definitions = true);
  // Rows past this many are ignored, and truncated() says so: the session then ends rather
  // than mask with part of the catalog (memory per session stays bounded).
  static constexpr size_t kMaxRows = 200000;

  // Adds one DataRow of kQuery's result. False (row ignored) when it does not have that shape.
  bool addRow(const ValueList& columns);

  // The type a value of `type_oid` is sent as: a domain's base type (through domains over
  // domains), else `type_oid` itself.
  uint32_t resolve(uint32_t type_oid) const;
  // The fields of composite type `type_oid` (resolved first), or null when it is not one the
  // catalog holds.
  const std::vector<Field>* fieldsOf(uint32_t type_oid) const;
  // Adds to `names` the field names of composite type `type_oid` (through domains, arrays and
  // ranges of one), of the composites nested in it, and what the fields of a view's row type
  // are made of; sets `*whole_row` when one may be any column. What a value of that type
  // carries, for judging where it is stored (masking.copies), whatever the rules.
  void addFieldNames(uint32_t type_oid, std::vector<std::string>* names, bool* whole_row) const;
  // The composite type whose array type is `array_oid` (also through a domain over it), or 0.
  uint32_t compositeOfArray(uint32_t array_oid) const;
  // The subtype of user-defined range or multirange type `type_oid` (`*multirange` says which),
  // or 0.
  uint32_t rangeSubtype(uint32_t type_oid, bool* multirange) const;
  // The user-defined types of table columns named `name` (any table), or null.
  const std::vector<uint32_t>* typesOfColumn(std::string_view name) const;
  bool hasTypedColumns() const { return !column_types_.empty(); }

  // Adds to `names` the columns of the tables named `table` (relname, any schema): what a `*`
  // over it stores (OutputLineage::star_tables), or what a trigger's NEW and OLD hold. False
  // when the name may stand for something else the catalog does not describe as a table: a
  // view, a relation the catalog does not hold (a system one, one made after it was read), or
  // any name when the database has more than kMaxTables tables.
  bool tableColumns(std::string_view table, std::vector<std::string>* names) const;
  // Adds to `tables` the readings of `relation` (as StatementFacts::writes lists it) that name
  // tables the catalog holds (the relnames tableColumns() takes); false when none does.
  bool addTableReadings(std::string_view relation, std::vector<std::string>* tables) const;
  bool hasTables() const { return !tables_.empty(); }
  // Whether values of `types` stored into column `column` of the tables `table` may name (as
  // StatementFacts::writes lists it; every reading, every schema) keep their fields' names:
  // the column is of one composite type in all of them (directly, through domains, or as an
  // array), not a view's row type, none is or holds a foreign table (its data is where
  // another type may hold it), and each of `types` is that same composite type. Reading
  // the column then masks the fields by name, as reading them where they came from does
  // (masking.copies: `SET card2 = card`).
  bool keepsFields(std::string_view table, std::string_view column,
                   const absl::flat_hash_set<uint32_t>& types) const;
  // At most this many tables, and this many bytes of their names and columns, are kept (each
  // session keeps its own): past either, no table is known. Table rows do not count toward
  // kMaxRows.
  static constexpr size_t kMaxTables = 20000;
  static constexpr size_t kMaxTableBytes = 2 << 20;

  // What the columns of the views named `name` (any schema) are made of, and the relations
  // their definitions read.
  struct ViewLineage {
    std::vector<std::pair<std::string, policy::ColumnLineage>> columns;
    std::vector<std::string> reads;
    // What its definition calls anywhere (WHERE audit_read(), FROM gen_rows()): a statement
    // reading it runs them.
    std::vector<std::string> functions;
    // The columns its definition names anywhere (WHERE cvv::int > 0, log_note(cvv)), and
    // whether it references whole rows: what the functions it calls are given, and what an
    // error raised while it is read may quote.
    std::vector<std::string> named;
    bool named_rows = false;
  };
  // Analyses the views' definitions (once, after the rows are in). A definition the analyser
  // cannot follow (longer than `max_bytes`, or not parsed) makes every column of its view a
  // possible whole row, so column rules mask them. `max_bytes` bounds the function
  // definitions function() reads as well.
  void resolveViews(const policy::SqlAnalyzer& analyzer, size_t max_bytes);
  // The views `relation` (as the analyser reports it: "view", "schema.view", or a quoted name
  // holding dots) may name: empty when none.
  std::vector<const ViewLineage*> views(std::string_view relation) const;
  bool hasViews() const { return !view_lineage_.empty(); }
  // The views `relations` name and the views those read, at most 64 (then `*exhausted`).
  std::vector<const ViewLineage*> viewsReached(std::vector<std::string> relations,
                                               bool* exhausted) const;
  // `relations` (as StatementFacts::writes lists them) and the relations the views among them
  // read, views of views too: what a write through an updatable view writes. `*exhausted` as
  // viewsReached(): past its limit what is written is not known.
  std::vector<std::string> relationsWritten(const std::vector<std::string>& relations,
                                            bool* exhausted) const;
  // Adds to `names` what the columns of `views` it holds are made of (views of views too);
  // sets `*whole_row` when one of them may be any column.
  static void addViewSources(const std::vector<const ViewLineage*>& views,
                             std::vector<std::string>* names, bool* whole_row);

  // What the results of the functions named `name` (any schema, every overload) are made of
  // (policy::functionLineage()). Read from a function's definition the first time a statement
  // names it; a definition longer than resolveViews()'s `max_bytes` is not read (its result
  // may be any column). Null when none has that name.
  struct FunctionResult {
    policy::ColumnLineage result;
    // Every column its body names (through views too): what an error inside it may quote.
    std::vector<std::string> columns;
    bool row_reference = false;
    // A view's row type result: its fields (the view's columns) and what each is made of.
    std::vector<std::pair<std::string, policy::ColumnLineage>> renames;
    // What its body stores (policy::FunctionLineage::stored), through the views it reads.
    std::vector<std::pair<std::string, policy::ColumnLineage>> stored;
    // Entries of `stored` that are a `*` over tables (policy::FunctionLineage::star_tables).
    std::vector<std::pair<size_t, std::vector<std::string>>> star_tables;
    std::vector<std::string> called;  // policy::FunctionLineage::called
    // policy::FunctionLineage::writes (of every definition of its name).
    std::vector<policy::StatementFacts> writes;
    bool stores_arguments = false;  // what its arguments are made of
    // policy::FunctionLineage::may_change_tables; also a definition not read.
    bool may_change_tables = false;
    bool runs_ddl = false;  // policy::FunctionLineage::runs_ddl
  };
  const FunctionResult* function(std::string_view name) const;
  // Merges into `lineage` what the functions it names by call name (policy::callName()) return,
  // and those they call, at most 64 (then it may be any column).
  void addCallResults(policy::ColumnLineage* lineage) const;
  bool hasFunctions() const { return !function_oids_.empty(); }
  // The events a trigger fires on (pg_trigger.tgtype's bits).
  static constexpr int kInsertEvent = 4;
  static constexpr int kDeleteEvent = 8;
  static constexpr int kUpdateEvent = 16;
  static constexpr int kTruncateEvent = 32;
  static constexpr int kAnyRowEvent = kInsertEvent | kDeleteEvent | kUpdateEvent | kTruncateEvent;
  // The trigger events `st` may fire, its own and those of the statements that run with it (a
  // data-modifying CTE). INSERT ... ON CONFLICT DO UPDATE may update; MERGE insert, update and
  // delete. An UPDATE moving a row to another partition is the catalog's to tell
  // (kMovedRowEvent).
  static int rowEvents(const policy::StatementFacts& st);
  // Set on a trigger of an inheritance child (not a partition) of the relation named: its NEW
  // and OLD may have columns the relation does not.
  static constexpr int kChildRowEvent = 64;
  // Set on a trigger of a partition under the name of a partitioned table above it: an UPDATE
  // through that table may move a row to another partition, a DELETE from one and an INSERT
  // into the other, which fires the partitions' INSERT and DELETE triggers.
  static constexpr int kMovedRowEvent = 128;
  struct Fired {
    bool functions = false;  // some were added
    bool rule = false;       // a rule rewrites such a write (what it does is not followed)
    // NEW and OLD of some are rows of the relation named (or of a partition of it).
    bool own_rows = false;
    // Those of others are rows of these tables: a foreign key's action writes them.
    std::vector<std::string> rows_of;
    // kChildRowEvent, or a table rows_of should name that the catalog does not hold (then
    // own_rows is set too).
    bool wider_rows = false;
  };
  // Adds to `functions` the names of the database's own functions that triggers on the
  // relations `relation` may name (as StatementFacts::writes lists it; every reading, every
  // schema, and the partitions and inheritance children below them) run on any of `events`;
  // also those of the tables whose foreign keys act on a delete or update of them (ON DELETE
  // CASCADE, ON UPDATE SET NULL, ...), and further down such keys. A trigger function the
  // catalog does not hold (an extension's) is not followed, like a call of one.
  Fired addTriggerFunctions(std::string_view relation, int events,
                            std::vector<std::string>* functions) const;
  bool hasTriggers() const { return !triggers_.empty(); }
  // True when rows past kMaxRows were ignored.
  bool truncated() const { return truncated_; }

  // Computes, once, which column rules of `masker` name each composite field and the first
  // one inside each type (ruleInside()); call after the last addRow(). `masker` must outlive
  // the catalog.
  void bindRules(const policy::Masker& masker);
  // Forgets the bound rules (the masker they came from is going away).
  void unbindRules() {
    field_rules_.clear();
    rule_inside_.clear();
  }
  // The column rule naming field `index` of composite `type_oid`, or null (bindRules() first).
  const policy::MaskingRuleSpec* fieldRule(uint32_t type_oid, size_t index) const;
  // The first column rule naming a field of composite `type_oid`, or of a composite nested in
  // it (a field of composite type, an array, domain or range of one): fields in order, depth
  // first. Null when none or when the catalog does not know the type (bindRules() first).
  const policy::MaskingRuleSpec* ruleInside(uint32_t type_oid) const;

  // The session ran DDL since the catalog was read (a type may have changed): which field of
  // a composite value is which is then unknown (structured_values.h, composite_masking.h).
  void markStale() { stale_ = true; }
  bool stale() const { return stale_; }

  size_t domainCount() const { return domains_.size(); }
  size_t compositeCount() const { return composites_.size(); }

 private:
  absl::flat_hash_map<uint32_t, uint32_t> domains_;  // domain -> base type
  absl::flat_hash_map<uint32_t, std::vector<Field>> composites_;
  absl::flat_hash_map<uint32_t, uint32_t> composite_arrays_;  // array type -> composite
  absl::flat_hash_map<uint32_t, uint32_t> domain_arrays_;     // array type -> domain
  absl::flat_hash_map<std::string, std::vector<uint32_t>> column_types_;
  absl::flat_hash_map<uint32_t, uint32_t> ranges_;       // range type -> subtype
  absl::flat_hash_map<uint32_t, uint32_t> multiranges_;  // multirange type -> subtype
  absl::flat_hash_map<uint32_t, std::vector<const policy::MaskingRuleSpec*>> field_rules_;
  absl::flat_hash_map<uint32_t, const policy::MaskingRuleSpec*> rule_inside_;
  struct View {
    std::string name;
    uint32_t row_type = 0;
    std::string definition;
    std::vector<std::string> columns;
  };
  absl::flat_hash_map<uint32_t, View> views_;
  absl::flat_hash_map<std::string, ViewLineage> view_lineage_;  // by view name
  // A view's row type -> its lineage (resolveViews()).
  absl::flat_hash_map<uint32_t, const ViewLineage*> view_row_types_;
  struct Function {
    std::string name;
    std::string definition;
    uint32_t result_type = 0;
  };
  absl::flat_hash_map<uint32_t, Function> functions_;
  absl::flat_hash_map<std::string, std::vector<uint32_t>> function_oids_;  // by name
  size_t max_definition_bytes_ = 0;                                        // resolveViews()
  // function(): read on first use. A node map: the results handed out stay where they are
  // while later lookups add more.
  mutable absl::node_hash_map<std::string, FunctionResult> function_results_;
  // A table's row (its oid, "name,column,...", whether it is a foreign table); false when it
  // has no name.
  bool addTable(uint32_t oid, std::string_view list, bool foreign);
  // A table column of one of the database's own types ('t' rows).
  void addTableColumn(uint32_t table_oid, std::string_view column, uint32_t type);
  // The name of table `oid` (null when the catalog does not hold it).
  const std::string* tableName(uint32_t oid) const;
  // The composite type `type_oid` is, or is a domain or an array over (0 when none).
  uint32_t compositeOf(uint32_t type_oid) const;
  // The tables of one name, in every schema.
  struct Tables {
    // Their columns, each followed by '\0' but the last: one string keeps a session's copy
    // small.
    std::string columns;
    std::vector<uint32_t> oids;
    bool foreign = false;  // one of them is or holds a foreign table
  };
  absl::flat_hash_map<std::string, Tables> tables_;  // by name
  struct Trigger {
    uint32_t function = 0;  // 0: a rule
    int events = 0;
    // The table whose rows NEW and OLD are, when a foreign key's action writes it (0: the
    // relation the trigger is listed under).
    uint32_t rows = 0;
  };
  absl::flat_hash_map<std::string, std::vector<Trigger>> triggers_;  // by relation name
  // A table column of one of the database's own types (addTableColumn()): the table's oid
  // (4 bytes) followed by the column's name -> its type.
  absl::flat_hash_map<std::string, uint32_t> table_column_types_;
  size_t table_rows_ = 0;
  size_t table_bytes_ = 0;
  size_t rows_ = 0;
  bool truncated_ = false;
  bool stale_ = false;
};

}  // namespace tollgate::sidecar::postgres
