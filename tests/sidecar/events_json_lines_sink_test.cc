// The JSON-lines sink: ordering and numbering across publish() and publishDeferred(), deferred
// statement events written exactly as if built inline, and no state kept between events.
#include <catch2/catch_test_macros.hpp>

#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "policy/sql/analyzer.h"
#include "sidecar/events/event_json.h"
#include "sidecar/events/json_lines_sink.h"
#include "sidecar/postgres/statement_event.h"
#include "tests/support/test_support.h"

using tollgate::sidecar::JsonLinesSink;
using tollgate::sidecar::postgres::StatementEvent;
using tollgate::sidecar::postgres::StatementRecord;
namespace v1 = tollgate::v1;

namespace {

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::shared_ptr<const v1::AuditEvent> sessionTemplate(const std::string& session_id) {
  auto e = std::make_shared<v1::AuditEvent>();
  e->mutable_identity()->set_subject("system:serviceaccount:payments-ci:runner");
  e->mutable_identity()->set_principal_id("system:serviceaccount:payments-ci:runner");
  e->mutable_identity()->set_namespace_("payments-ci");
  e->mutable_identity()->set_service_account("runner");
  e->mutable_location()->set_resource("payments-db");
  e->mutable_location()->set_protocol("postgres");
  e->mutable_location()->set_upstream("10.0.0.5:5432");
  e->mutable_location()->set_client_addr("127.0.0.1:40000");
  e->mutable_location()->set_source("sidecar/pod-1");
  e->mutable_location()->set_session_id(session_id);
  e->mutable_reason()->set_policy_version(7);
  e->mutable_reason()->set_grant_id("g-1");
  return e;
}

StatementRecord selectRecord(const tollgate::policy::SqlAnalyzer& analyzer, uint64_t number) {
  StatementRecord r;
  r.session = sessionTemplate("0123456789abcdef");
  r.number = number;
  r.time_ns = 1764000000123456789;
  r.facts = analyzer.analyze("SELECT pan, cvv FROM cards WHERE pan = '4111111111111111'");
  r.statement = 0;
  r.success = true;
  r.rows = 3;
  r.values_masked = 6;
  r.duration_us = 250;
  r.rule = "role:read";
  return r;
}

std::string eagerJson(StatementRecord r, uint64_t sequence) {
  v1::AuditEvent e;
  tollgate::sidecar::postgres::buildStatementEvent(r, e);
  e.set_source_sequence(sequence);
  std::string out;
  tollgate::sidecar::appendEventJson(e, out);
  return out;
}

}  // namespace

TEST_CASE("deferred statement events are written exactly as an inline build would write them") {
  tollgate::testing::TempDir dir;
  const std::string path = (dir.path() / "events.jsonl").string();
  tollgate::policy::SqlAnalyzer analyzer;
  std::vector<std::string> expected;
  {
    auto sink = JsonLinesSink::open(path);
    REQUIRE(sink.ok());
    for (uint64_t i = 1; i <= 300; ++i) {  // more than one writer batch
      StatementRecord r = selectRecord(analyzer, i);
      r.rows = i;
      expected.push_back(eagerJson(r, i));
      (*sink)->publishDeferred(std::make_unique<StatementEvent>(std::move(r)));
    }
    (*sink)->flush();
  }
  auto lines = readLines(path);
  REQUIRE(lines == expected);
  CHECK(lines[0].find("4111") == std::string::npos);  // literal removed from the statement
  CHECK(lines[0].find("\"id\":\"0123456789abcdef-1\"") != std::string::npos);
  CHECK(lines[0].find("\"time\":\"2025-11-24T16:00:00.123456Z\"") != std::string::npos);
}

TEST_CASE("publish and publishDeferred share one sequence and keep their order") {
  tollgate::testing::TempDir dir;
  const std::string path = (dir.path() / "events.jsonl").string();
  tollgate::policy::SqlAnalyzer analyzer;
  {
    auto sink = JsonLinesSink::open(path);
    REQUIRE(sink.ok());
    for (int i = 0; i < 10; ++i) {
      if (i % 3 == 0) {
        v1::AuditEvent e;
        e.set_id("plain-" + std::to_string(i));
        e.set_type(v1::EVENT_SESSION_START);
        (*sink)->publish(std::move(e));
      } else {
        (*sink)->publishDeferred(
            std::make_unique<StatementEvent>(selectRecord(analyzer, static_cast<uint64_t>(i))));
      }
    }
    (*sink)->flush();
  }
  auto lines = readLines(path);
  REQUIRE(lines.size() == 10);
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    const std::string seq = "\"sourceSequence\":" + std::to_string(i + 1);
    size_t at = lines[i].find(seq);
    REQUIRE(at != std::string::npos);
    CHECK(!std::isdigit(static_cast<unsigned char>(lines[i][at + seq.size()])));
    bool plain = i % 3 == 0;
    CHECK((lines[i].find("\"id\":\"plain-" + std::to_string(i) + "\"") != std::string::npos) ==
          plain);
  }
}

TEST_CASE("a reused event message leaks no field of the event written before it") {
  tollgate::testing::TempDir dir;
  const std::string path = (dir.path() / "events.jsonl").string();
  tollgate::policy::SqlAnalyzer analyzer;
  {
    auto sink = JsonLinesSink::open(path);
    REQUIRE(sink.ok());
    StatementRecord full = selectRecord(analyzer, 1);
    full.error_code = "42501";
    full.message = "blocked by rule \"no-pan\": 4111 1111 1111 1111";
    full.approval_id = "a-1";
    full.decision = tollgate::policy::Decision::kBlock;
    (*sink)->publishDeferred(std::make_unique<StatementEvent>(std::move(full)));
    // A statement event with no statement facts and no rule: an unparsed text.
    StatementRecord bare;
    bare.session = sessionTemplate("fedcba9876543210");
    bare.number = 2;
    bare.facts = analyzer.analyze("SELEC nonsense FROM");
    bare.success = false;
    (*sink)->publishDeferred(std::make_unique<StatementEvent>(std::move(bare)));
    // A minimal event with no sub-messages at all.
    v1::AuditEvent minimal;
    minimal.set_id("m-1");
    minimal.set_type(v1::EVENT_SESSION_END);
    (*sink)->publish(std::move(minimal));
    (*sink)->flush();
  }
  auto lines = readLines(path);
  REQUIRE(lines.size() == 3);
  // The first: review (approval id present), scrubbed message, error code.
  CHECK(lines[0].find("\"decision\":\"DECISION_REVIEW\"") != std::string::npos);
  CHECK(lines[0].find("\"message\":\"blocked by rule \\\"no-pan\\\": #### #### #### ####\"") !=
        std::string::npos);
  CHECK(lines[0].find("\"errorCode\":\"42501\"") != std::string::npos);
  // The second carries nothing of the first.
  INFO(lines[1]);
  CHECK(lines[1].find("statement did not parse") != std::string::npos);
  for (const char* leaked : {"errorCode", "approvalId", "ruleIds", "\"statement\"", "fingerprint",
                             "objects", "message", "valuesMasked", "0123456789abcdef"}) {
    CHECK(lines[1].find(leaked) == std::string::npos);
  }
  CHECK(lines[1].find("\"id\":\"fedcba9876543210-2\"") != std::string::npos);
  // The third has no sub-messages, although the reused message had them all.
  CHECK(lines[2] == "{\"id\":\"m-1\",\"type\":\"EVENT_SESSION_END\",\"sourceSequence\":3}");
}

// Red-team round 7: with audit: sync and an events file that refused the line (/dev/full),
// writes were still confirmed and committed with no record.
TEST_CASE("audit: sync is confirmed only once the line is written; a full disk refuses it") {
  tollgate::testing::TempDir dir;
  const std::string path = (dir.path() / "events.jsonl").string();
  for (const std::string& target : {path, std::string("/dev/full")}) {
    INFO(target);
    auto sink = JsonLinesSink::open(target);
    REQUIRE(sink.ok());
    std::mutex mu;
    std::condition_variable cv;
    std::optional<bool> stored;
    v1::AuditEvent e;
    e.set_id("sync-1");
    e.set_type(v1::EVENT_STATEMENT);
    (*sink)->publishConfirmed(std::move(e), [&](bool ok) {
      std::lock_guard lock(mu);
      stored = ok;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return stored.has_value(); }));
    const bool full = target == "/dev/full";
    CHECK(*stored == !full);
    CHECK((*sink)->failedEvents() == (full ? 1u : 0u));
  }
  auto lines = readLines(path);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("\"id\":\"sync-1\"") != std::string::npos);
}

// Review: the README's `--events /var/log/tollgate/events.jsonl` failed on a fresh machine with
// "No such file or directory".
TEST_CASE("an events file in directories that do not exist yet gets them, mode 0750; it is 0640") {
  tollgate::testing::TempDir dir;
  const auto logs = dir.path() / "var" / "log" / "tollgate";
  const std::string path = (logs / "events.jsonl").string();
  {
    auto sink = JsonLinesSink::open(path);
    REQUIRE(sink.ok());
    v1::AuditEvent e;
    e.set_id("first");
    (*sink)->publish(std::move(e));
    (*sink)->flush();
  }
  auto lines = readLines(path);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("\"id\":\"first\"") != std::string::npos);
  for (const auto& d : {dir.path() / "var", logs}) {
    INFO(d);
    // 0750, less the umask (which takes no bits of 0750 here: the test runs with 022 or 002).
    CHECK((std::filesystem::status(d).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
           std::filesystem::perms::group_exec));
  }
  // Review (session 25): the file itself was created 0644, readable by everyone.
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
         std::filesystem::perms::group_read));
  // A path under a file is still an error naming the path.
  const std::string under_file = path + "/nested.jsonl";
  auto bad = JsonLinesSink::open(under_file);
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find(under_file) != std::string::npos);
}
