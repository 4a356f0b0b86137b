// NameTable: statement and portal names follow what the server holds, through refusals,
// skipped units, pipelined batches and transaction ends.
#include "sidecar/postgres/name_table.h"

#include <memory>

#include <catch2/catch_test_macros.hpp>

using tollgate::sidecar::postgres::NamedPortal;
using tollgate::sidecar::postgres::NameTable;
using tollgate::sidecar::postgres::StatementRef;

namespace {

// A distinct statement source per tag (the tag is its index, so tests can tell them apart).
StatementRef source(size_t tag) {
  static const auto facts = std::make_shared<const tollgate::policy::QueryFacts>();
  return StatementRef{facts, tag};
}

size_t tagOf(NameTable& t, const std::string& name) {
  auto* s = t.statement(name);
  return s == nullptr ? 0 : s->source.index;
}

void define(NameTable& t, uint64_t unit, const std::string& name, size_t tag, size_t at = 0) {
  t.defineStatement(unit, at, name).source = source(tag);
}

}  // namespace

TEST_CASE("a refused definition restores what the name stood for") {
  NameTable t;
  define(t, 1, "p", 7);
  t.settle(2);
  define(t, 2, "p", 8);
  CHECK(tagOf(t, "p") == 8);  // seen at once by messages pipelined behind it
  t.undo(2, 0, 3);
  CHECK(tagOf(t, "p") == 7);
  CHECK(t.journalSize() == 0);
}

TEST_CASE("a refused first definition frees the name") {
  NameTable t;
  define(t, 1, "p", 7);
  t.undo(1, 0, 2);
  CHECK(t.statement("p") == nullptr);
}

TEST_CASE("skipped units up to the Sync are undone, later batches are not") {
  NameTable t;
  define(t, 1, "p", 7);
  t.settle(2);
  // Batch: 2 fails, 3 (close p) and 4 (parse p) are skipped, 5 is its Sync; 6 is the next batch.
  t.releaseStatement(3, 0, "p");
  define(t, 4, "p", 8);
  define(t, 6, "q", 9);
  t.undo(2, 0, 5);
  CHECK(tagOf(t, "p") == 7);
  CHECK(tagOf(t, "q") == 9);
  CHECK(t.journalSize() == 1);
  t.settle(7);
  CHECK(t.journalSize() == 0);
}

TEST_CASE("undoing a change that a later batch overwrote keeps the later one") {
  NameTable t;
  define(t, 1, "p", 7);
  t.settle(2);
  define(t, 3, "p", 8);  // skipped after unit 2 fails
  define(t, 6, "p", 9);  // a later batch, pipelined
  t.undo(2, 0, 5);
  CHECK(tagOf(t, "p") == 9);
  // If the later one fails too, the name goes back to what the server had before both.
  t.undo(6, 0, 7);
  CHECK(tagOf(t, "p") == 7);
}

TEST_CASE("a failed statement of a simple query undoes only itself and those after it") {
  NameTable t;
  define(t, 1, "a", 1, /*at=*/0);
  define(t, 1, "b", 2, /*at=*/1);
  define(t, 1, "c", 3, /*at=*/2);
  t.undo(1, 1, 2);
  CHECK(tagOf(t, "a") == 1);
  CHECK(t.statement("b") == nullptr);
  CHECK(t.statement("c") == nullptr);
}

TEST_CASE("release all, then undo, brings every name back") {
  NameTable t;
  define(t, 1, "a", 1);
  define(t, 1, "b", 2);
  t.settle(2);
  t.releaseAllStatements(2, 0);
  CHECK(t.statement("a") == nullptr);
  t.undo(2, 0, 3);
  CHECK(tagOf(t, "a") == 1);
  CHECK(tagOf(t, "b") == 2);
}

TEST_CASE("portals end with their transaction unless WITH HOLD; the unnamed one is reused") {
  NameTable t;
  NamedPortal& unnamed = t.definePortal(1, 0, "");
  unnamed.result_formats = {1, 1};
  t.definePortal(2, 0, "cur").cursor = true;
  NamedPortal& held = t.definePortal(3, 0, "kept");
  held.cursor = true;
  held.holds = true;
  t.definePortal(9, 0, "pending");  // a unit not answered yet
  t.settle(9);
  t.endTransaction(9);
  CHECK(t.portal("cur") == nullptr);
  CHECK(t.portal("kept") != nullptr);
  CHECK(t.portal("pending") != nullptr);
  REQUIRE(t.portal("") != nullptr);
  NamedPortal& again = t.definePortal(10, 0, "");
  CHECK(again.result_formats.empty());  // a new entry
  again.source = StatementRef{nullptr, 0, false};
  CHECK(t.journalSize() == 1);  // only "pending"; the unnamed portal is not journaled
  // Bound in an earlier batch (before unit 11) the server has not answered: it may revert.
  CHECK(t.portalMayRevert("", 11));
  CHECK_FALSE(t.portalMayRevert("", 10));  // bound in the batch in progress
  // The Bind failed: the server may still hold the portal before it, so what it returns is
  // not known.
  t.undo(10, 0, 11);
  REQUIRE(t.portal("") != nullptr);
  CHECK(t.portal("")->source.opaque);
  t.settle(11);
  CHECK_FALSE(t.portalMayRevert("", 12));
}

TEST_CASE("a name an unanswered unit redefined may revert until that unit is answered") {
  NameTable t;
  define(t, 1, "p", 7);
  CHECK_FALSE(t.statementMayRevert("p", 5));  // a first definition: nothing to put back
  t.settle(2);
  define(t, 2, "p", 8);  // replaces 7; the server has not answered unit 2
  define(t, 3, "q", 9);
  CHECK(t.statementMayRevert("p", 3));        // a later batch: unit 2 may still fail
  CHECK_FALSE(t.statementMayRevert("p", 2));  // the batch that redefined it
  CHECK_FALSE(t.statementMayRevert("q", 4));  // q was free
  CHECK_FALSE(t.statementMayRevert("r", 4));
  CHECK_FALSE(t.portalMayRevert("p", 4));  // another namespace
  define(t, 4, "p", 10);                   // the batch in progress changes it again
  CHECK_FALSE(t.statementMayRevert("p", 4));
  CHECK(t.statementMayRevert("p", 5));
  t.settle(3);  // unit 2 answered; unit 4 still replaces 8
  CHECK(t.statementMayRevert("p", 5));
  t.settle(5);
  CHECK_FALSE(t.statementMayRevert("p", 6));
  CHECK(t.journalSize() == 0);
}

TEST_CASE("a change the server always makes does not revert") {
  NameTable t;
  define(t, 1, "", 7);
  define(t, 1, "p", 1);
  t.settle(2);
  define(t, 2, "", 8);  // an unnamed Parse first in its batch: the old one is dropped anyway
  t.markCertain(2);
  CHECK_FALSE(t.statementMayRevert("", 3));
  t.releaseStatement(3, 0, "p");  // not first in its batch: the server may skip it
  CHECK(t.statementMayRevert("p", 4));
  const uint64_t scans = t.journalScans();
  t.markCertain(3);
  CHECK_FALSE(t.statementMayRevert("p", 4));
  CHECK(t.journalScans() == scans);
}

TEST_CASE("after an undo, what may revert is counted from what is left") {
  NameTable t;
  define(t, 1, "p", 7);
  t.settle(2);
  define(t, 2, "p", 8);  // replaces 7
  define(t, 4, "p", 9);  // a later batch replaces 8
  CHECK(t.statementMayRevert("p", 5));
  // Unit 2 fails: 8 never existed, and unit 4's change now replaces 7 on the server.
  t.undo(2, 0, 3);
  CHECK(tagOf(t, "p") == 9);
  CHECK(t.journalSize() == 1);
  CHECK(t.statementMayRevert("p", 5));
  t.undo(4, 0, 5);
  CHECK(tagOf(t, "p") == 7);
  CHECK_FALSE(t.statementMayRevert("p", 5));
  // A first definition undone leaves nothing pending either.
  define(t, 5, "n", 1);
  t.undo(5, 0, 6);
  CHECK_FALSE(t.statementMayRevert("n", 7));
  CHECK(t.journalSize() == 0);
}

TEST_CASE("a deep pipeline of unnamed statements leaves each batch's check its own") {
  // executemany: Parse "", Bind, Execute, Sync, many times, none answered yet.
  NameTable t;
  define(t, 1, "", 1);
  t.settle(2);
  constexpr uint64_t kBatches = 5000;
  for (uint64_t b = 0; b < kBatches; ++b) {
    const uint64_t unit = 2 + 2 * b;  // the Parse; the Sync follows it
    define(t, unit, "", b + 2);
    t.markCertain(unit);
    CHECK_FALSE(t.statementMayRevert("", unit));
  }
  CHECK(t.journalSize() == kBatches);
  CHECK(t.journalScans() == 0);  // each check answered without reading the journal
  t.settle(2 + 2 * kBatches);
  CHECK(t.journalSize() == 0);
}

TEST_CASE("an unknown source is opaque: every column may carry any column") {
  auto ref = StatementRef::unknown();
  REQUIRE(ref.lineage() != nullptr);
  bool whole_row = false;
  auto names = ref.lineage()->namesFor(0, 2, "holder", &whole_row);
  CHECK(whole_row);
  CHECK(StatementRef{}.lineage() == nullptr);
  CHECK(!(ref == StatementRef{}));
}

// Regression: names differing only after byte 63 are one name to the server, and were two to the
// sidecar, which then masked one statement's rows with another's lineage.
TEST_CASE("names are the server's: their first 63 bytes") {
  NameTable t;
  // 63 x's, then `last` (none for '\0').
  auto name = [](char last) {
    std::string n(63, 's');
    if (last != '\0') n.push_back(last);
    return n;
  };
  define(t, 1, name('2'), 7);
  t.releaseStatement(2, 0, name('1'));  // the server closes the same statement
  CHECK(t.statement(name('2')) == nullptr);
  define(t, 3, name('1'), 8);
  CHECK(tagOf(t, name('2')) == 8);
  CHECK(tagOf(t, name('\0')) == 8);
  t.definePortal(4, 0, name('x')).cursor = true;
  CHECK(t.portal(name('y')) != nullptr);
  t.releasePortal(5, 0, name('z'));
  CHECK(t.portal(name('\0')) == nullptr);
}
