// SqliteAuditStore: append, chain fields, search filters, pagination, export, replays, restart.
#include <catch2/catch_test_macros.hpp>
#include <set>

#include "controlplane/audit/chain.h"
#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::makeEvent;
using testing::makeEvents;
using testing::openStore;
using testing::verifyAll;

std::vector<uint64_t> sequencesOf(const v1::SearchAuditResponse& r) {
  std::vector<uint64_t> out;
  for (const auto& e : r.events()) out.push_back(e.sequence());
  return out;
}

TEST_CASE("append assigns dense sequences and links every record to the previous one") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  auto first = store->append(makeEvents(1, 3));
  REQUIRE(first.ok());
  CHECK(first->sequences == std::vector<uint64_t>{1, 2, 3});
  auto second = store->append(makeEvents(4, 2));
  REQUIRE(second.ok());
  CHECK(second->sequences == std::vector<uint64_t>{4, 5});
  CHECK(store->headSequence() == 5);

  CHECK(store->get(1)->prev_hash() == hashHex(kZeroHash));
  for (uint64_t s = 1; s < 5; ++s) {
    auto a = store->get(s);
    auto b = store->get(s + 1);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(b->prev_hash() == a->record_hash());
    std::string bytes = encodeRecord(*a, s).value();
    CHECK(a->record_hash() == hashHex(chainHash(hashFromHex(a->prev_hash()).value(), bytes)));
  }
  CHECK(store->get(3)->identity().principal_id() == makeEvent(3).identity().principal_id());
  CHECK(store->get(6).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("the chain continues across a restart") {
  tollgate::testing::TempDir dir;
  REQUIRE(openStore(dir.path().string())->append(makeEvents(1, 4)).ok());
  auto store = openStore(dir.path().string());
  CHECK(store->headSequence() == 4);
  CHECK(store->append(makeEvents(5, 2))->sequences == std::vector<uint64_t>{5, 6});
  CHECK(verifyAll(*store).ok);
}

TEST_CASE("an event without a time gets the store clock's time") {
  tollgate::testing::TempDir dir;
  auto clock = std::make_shared<ManualClock>(std::chrono::system_clock::from_time_t(1700000000));
  auto store = openStore(dir.path().string(), 1000, clock);
  v1::AuditEvent e = makeEvent(1);
  e.clear_time();
  REQUIRE(store->append({e}).ok());
  CHECK(store->get(1)->time().seconds() == 1700000000);
}

TEST_CASE("search filters match exactly what they name") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  std::vector<v1::AuditEvent> events = makeEvents(1, 40);
  events[6].mutable_action()->set_statement("SELECT 100% FROM t_x");   // seq 7
  events[7].mutable_action()->set_detail("policy version 7 applied");  // seq 8
  events[8].mutable_action()->set_detail("s_lect");                    // seq 9
  events[9].mutable_action()->set_statement("SELECT 1000 FROM t");     // seq 10
  REQUIRE(store->append(events).ok());

  struct Case {
    const char* name;
    SearchFilter filter;
    std::function<bool(const v1::AuditEvent&)> expect;
  };
  auto f = [](auto fill) {
    SearchFilter filter;
    filter.limit = 1000;
    fill(filter);
    return filter;
  };
  const int64_t base_us = testing::kBaseSeconds * 1000000;
  std::vector<Case> cases = {
      {"principal", f([](SearchFilter& s) { s.principal_id = "principal-1"; }),
       [](const auto& e) { return e.identity().principal_id() == "principal-1"; }},
      {"subject", f([](SearchFilter& s) { s.subject = "system:serviceaccount:ci:job-0"; }),
       [](const auto& e) { return e.identity().subject() == "system:serviceaccount:ci:job-0"; }},
      {"resource", f([](SearchFilter& s) { s.resource = "ledger-db"; }),
       [](const auto& e) { return e.location().resource() == "ledger-db"; }},
      {"session", f([](SearchFilter& s) { s.session_id = "sess-2"; }),
       [](const auto& e) { return e.location().session_id() == "sess-2"; }},
      {"decision", f([](SearchFilter& s) { s.decision = v1::DECISION_BLOCK; }),
       [](const auto& e) { return e.reason().decision() == v1::DECISION_BLOCK; }},
      {"rule", f([](SearchFilter& s) { s.rule_id = "no-ddl"; }),
       [](const auto& e) { return e.reason().rule_ids(0) == "no-ddl"; }},
      {"types", f([](SearchFilter& s) { s.types = {v1::EVENT_SESSION_START}; }),
       [](const auto& e) { return e.type() == v1::EVENT_SESSION_START; }},
      {"time window", f([&](SearchFilter& s) {
         s.from_us = base_us + 10 * 60000000LL;
         s.to_us = base_us + 20 * 60000000LL;
       }),
       [](const auto& e) {
         return e.time().seconds() >= testing::kBaseSeconds + 600 &&
                e.time().seconds() < testing::kBaseSeconds + 1200;
       }},
      {"text substring", f([](SearchFilter& s) { s.text = "cards_1 "; }),
       [](const auto& e) { return e.action().statement().find("cards_1 ") != std::string::npos; }},
      {"text in detail", f([](SearchFilter& s) { s.text = "VERSION 7"; }),
       [](const auto& e) { return e.sequence() == 8; }},
      {"percent is literal", f([](SearchFilter& s) { s.text = "100%"; }),
       [](const auto& e) { return e.sequence() == 7; }},
      {"underscore is literal", f([](SearchFilter& s) { s.text = "s_lect"; }),
       [](const auto& e) { return e.sequence() == 9; }},
      {"combined", f([](SearchFilter& s) {
         s.resource = "payments-db";
         s.decision = v1::DECISION_BLOCK;
       }),
       [](const auto& e) {
         return e.location().resource() == "payments-db" &&
                e.reason().decision() == v1::DECISION_BLOCK;
       }},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto result = store->search(c.filter);
    REQUIRE(result.ok());
    std::vector<uint64_t> expected;
    for (uint64_t s = 1; s <= 40; ++s) {
      if (c.expect(store->get(s).value())) expected.push_back(s);
    }
    CHECK(!expected.empty());
    CHECK(sequencesOf(*result) == expected);
    CHECK(result->next_page_token().empty());
  }
}

TEST_CASE("pages follow each other without gaps or repeats") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  REQUIRE(store->append(makeEvents(1, 250)).ok());
  v1::SearchAuditRequest request;
  std::vector<uint64_t> seen;
  int pages = 0;
  do {
    auto filter = searchFilterFromProto(request);
    REQUIRE(filter.ok());
    auto page = store->search(*filter);
    REQUIRE(page.ok());
    ++pages;
    CHECK(page->events_size() <= 100);
    for (uint64_t s : sequencesOf(*page)) seen.push_back(s);
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  CHECK(pages == 3);
  REQUIRE(seen.size() == 250);
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
}

TEST_CASE("export streams every match in order and stops on a callback error") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  REQUIRE(store->append(makeEvents(1, 700)).ok());
  SearchFilter filter;
  filter.resource = "payments-db";
  std::vector<uint64_t> seen;
  REQUIRE(store
              ->exportRecords(filter,
                              [&](const v1::AuditEvent& e) {
                                seen.push_back(e.sequence());
                                return absl::OkStatus();
                              })
              .ok());
  REQUIRE(seen.size() == 350);
  for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] > seen[i - 1]);

  int calls = 0;
  absl::Status st = store->exportRecords(SearchFilter{}, [&](const v1::AuditEvent&) {
    return ++calls == 300 ? absl::CancelledError("client went away") : absl::OkStatus();
  });
  CHECK(st.code() == absl::StatusCode::kCancelled);
  CHECK(calls == 300);
}

TEST_CASE("a replayed sidecar batch is ignored and reports the original sequences") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  std::vector<v1::AuditEvent> batch;
  for (int i = 1; i <= 3; ++i) batch.push_back(makeEvent(i, "sidecar/pod-a", 100 + i));
  REQUIRE(store->append(batch).ok());
  // Another sidecar may reuse the same source_sequence values.
  REQUIRE(store->append({makeEvent(9, "sidecar/pod-b", 101)})->duplicate ==
          std::vector<bool>{false});

  // Restart, then the sidecar replays its unacked spool plus one new event.
  store = openStore(dir.path().string());
  batch.push_back(makeEvent(4, "sidecar/pod-a", 104));
  auto replay = store->append(batch);
  REQUIRE(replay.ok());
  CHECK(replay->sequences == std::vector<uint64_t>{1, 2, 3, 5});
  CHECK(replay->duplicate == std::vector<bool>{true, true, true, false});
  CHECK(store->headSequence() == 5);
}

TEST_CASE("a duplicate inside one batch is stored once") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  auto r = store->append({makeEvent(1, "sidecar/p", 7), makeEvent(1, "sidecar/p", 7)});
  REQUIRE(r.ok());
  CHECK(r->sequences == std::vector<uint64_t>{1, 1});
  CHECK(r->duplicate == std::vector<bool>{false, true});
}

TEST_CASE("events without a source sequence are never de-duplicated") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  auto r = store->append({makeEvent(1), makeEvent(1)});
  REQUIRE(r.ok());
  CHECK(r->sequences == std::vector<uint64_t>{1, 2});
}

TEST_CASE("an oversized event fails the whole batch and stores nothing") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  std::vector<v1::AuditEvent> batch = makeEvents(1, 2);
  batch[1].mutable_action()->set_detail(std::string(kMaxRecordBytes, 'x'));
  CHECK(store->append(batch).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store->headSequence() == 0);
  CHECK(store->append(makeEvents(1, 1))->sequences == std::vector<uint64_t>{1});
  CHECK(verifyAll(*store).ok);
}

}  // namespace
}  // namespace tollgate::controlplane::audit
