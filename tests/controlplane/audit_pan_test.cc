// PCI DSS 3.5.1 defence in depth: no card number reaches the audit store, whatever the producer.
#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/detect/pan.h"
#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::makeEvent;
using testing::openStore;
using testing::verifyAll;

std::string readAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("card numbers in any event field are scrubbed before storing") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  const std::vector<std::string> pans = {"4111111111111111", "5500-0000-0000-0004",
                                         "3782 822463 10005", "6011000990139424"};
  v1::AuditEvent e = makeEvent(1);
  e.mutable_action()->set_statement("SELECT * FROM cards WHERE pan = '" + pans[0] + "'");
  e.mutable_action()->set_detail("copied " + pans[1]);
  e.mutable_action()->add_objects("public.cards_" + pans[3]);
  e.mutable_result()->set_error_message("duplicate key value (" + pans[2] + ")");
  e.mutable_reason()->add_rule_ids(pans[3]);
  e.mutable_identity()->add_groups("grp " + pans[0]);
  // Glued to other text: a pod named after one (the detector spares such ids in data).
  e.mutable_identity()->set_pod_name("job-" + pans[0]);
  auto r = store->append({e, makeEvent(2)});
  REQUIRE(r.ok());
  CHECK(r->pans_scrubbed == 7);

  v1::AuditEvent stored = store->get(1).value();
  std::string text;
  stored.SerializeToString(&text);
  CHECK_FALSE(policy::containsPan(text));
  CHECK(stored.action().statement().find("411111") != std::string::npos);  // BIN kept
  CHECK(stored.action().statement().find("1111'") != std::string::npos);   // last 4 kept

  // The scrubbed statement is what is indexed and searched.
  SearchFilter filter;
  filter.text = "4111111111111111";
  CHECK(store->search(filter)->events_size() == 0);
  CHECK(store->get(2)->action().statement() == makeEvent(2).action().statement());
  CHECK(verifyAll(*store).ok);

  // Scan every byte the store wrote (database, WAL, key) for a card number.
  store.reset();
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    INFO(entry.path());
    CHECK_FALSE(policy::containsPan(readAll(entry.path())));
  }
}

// Review (session 22): a producer's event with a field this version does not know (field 999
// holding a card number) was stored verbatim, unscrubbed, and served back.
TEST_CASE("fields the store does not know are dropped, card numbers with them") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  v1::AuditEvent e = makeEvent(1);
  std::string wire;
  REQUIRE(e.SerializeToString(&wire));
  // Field 999, length-delimited: tag (999 << 3 | 2) as a varint, then the length and bytes.
  const std::string pan = "4111111111111111";
  wire += "\xba\x3e";
  wire += static_cast<char>(pan.size());
  wire += pan;
  // ... and inside the action message too (field 998 of AuditEvent.Action).
  v1::AuditEvent with_unknown;
  REQUIRE(with_unknown.ParseFromString(wire));
  std::string action_wire;
  REQUIRE(with_unknown.action().SerializeToString(&action_wire));
  action_wire += "\xb2\x3e";
  action_wire += static_cast<char>(pan.size());
  action_wire += pan;
  REQUIRE(with_unknown.mutable_action()->ParseFromString(action_wire));
  std::string check;
  REQUIRE(with_unknown.SerializeToString(&check));
  REQUIRE(policy::containsPan(check));  // the test event does carry it
  auto r = store->append({with_unknown});
  REQUIRE(r.ok());
  v1::AuditEvent stored = store->get(1).value();
  std::string text;
  stored.SerializeToString(&text);
  CHECK_FALSE(policy::containsPan(text));
  CHECK(stored.GetReflection()->GetUnknownFields(stored).empty());
  CHECK(stored.action().GetReflection()->GetUnknownFields(stored.action()).empty());
  CHECK(verifyAll(*store).ok);
  store.reset();
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    INFO(entry.path());
    CHECK_FALSE(policy::containsPan(readAll(entry.path())));
  }
}

// Review (session 22): one event with a time no timestamp can hold made the whole batch fail,
// and the sidecar resent it for ever, every later event queued behind it.
TEST_CASE("an event with an impossible time is kept with the store's time") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  v1::AuditEvent bad = makeEvent(1);
  bad.mutable_time()->set_seconds(-99999999999999);
  auto r = store->append({bad, makeEvent(2)});
  REQUIRE(r.ok());
  v1::AuditEvent stored = store->get(1).value();
  CHECK(stored.time().seconds() > 1700000000);
  CHECK(stored.time_source() == "store: the producer's time was invalid");
  CHECK(store->get(2)->time_source() != stored.time_source());
  CHECK(verifyAll(*store).ok);
}

TEST_CASE("timestamps and ids that only look like card numbers are kept") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  v1::AuditEvent e = makeEvent(1);
  e.mutable_action()->set_detail("at 1735689600123 request 12345");
  auto r = store->append({e});
  REQUIRE(r.ok());
  CHECK(r->pans_scrubbed == 0);
  CHECK(store->get(1)->action().detail() == e.action().detail());
}

TEST_CASE("invalid UTF-8 from a producer is repaired so the record still decodes") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  v1::AuditEvent e = makeEvent(1);
  e.mutable_action()->set_statement(std::string("SELECT '\xff\xfe' AS x"));
  e.mutable_result()->set_error_message(std::string("bad \xc0\x80 overlong"));
  auto r = store->append({e});
  REQUIRE(r.ok());
  CHECK(r->invalid_utf8 == 2);
  auto stored = store->get(1);
  REQUIRE(stored.ok());
  CHECK(stored->action().statement() == "SELECT '\xEF\xBF\xBD\xEF\xBF\xBD' AS x");
  CHECK(verifyAll(*store).ok);
}

}  // namespace
}  // namespace tollgate::controlplane::audit
