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
  auto r = store->append({e, makeEvent(2)});
  REQUIRE(r.ok());
  CHECK(r->pans_scrubbed == 6);

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
