// Canonical record encoding, the hash chain, page tokens and search-filter validation.
#include <openssl/sha.h>

#include <catch2/catch_test_macros.hpp>

#include "controlplane/audit/chain.h"
#include "controlplane/audit/search.h"
#include "tests/controlplane/audit_testing.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::makeEvent;

TEST_CASE("a record round-trips through its canonical encoding") {
  v1::AuditEvent e = makeEvent(3);
  e.set_prev_hash("ignored");
  e.set_record_hash("ignored");
  e.set_sequence(99);
  std::string bytes = encodeRecord(e, 42).value();
  CHECK(bytes.substr(0, 4) == std::string("TGA\x01", 4));
  CHECK(recordHeaderSequence(bytes).value() == 42);
  CHECK(readU32(bytes.substr(12)) == bytes.size() - 16);
  v1::AuditEvent back = decodeRecord(bytes).value();
  CHECK(back.sequence() == 42);
  CHECK(back.prev_hash().empty());
  CHECK(back.record_hash().empty());
  CHECK(back.action().statement() == e.action().statement());
  // Deterministic: encoding the decoded record gives the same bytes.
  CHECK(encodeRecord(back, 42).value() == bytes);
}

TEST_CASE("the decoder refuses damaged and non-canonical records") {
  const std::string good = encodeRecord(makeEvent(1), 7).value();
  v1::AuditEvent other_seq = makeEvent(1);
  other_seq.set_sequence(8);
  std::string payload_seq_differs = good.substr(0, 16);
  std::string payload;
  other_seq.SerializeToString(&payload);
  payload_seq_differs.replace(12, 4, [&] {
    std::string len;
    appendU32(len, static_cast<uint32_t>(payload.size()));
    return len;
  }());
  payload_seq_differs += payload;
  // A repeated scalar field appended at the end parses (last one wins) but is not canonical.
  std::string duplicate_field = good + std::string("\x48\x01", 2);  // source_sequence = 1
  duplicate_field.replace(12, 4, [&] {
    std::string len;
    appendU32(len, static_cast<uint32_t>(duplicate_field.size() - 16));
    return len;
  }());

  struct Case {
    const char* name;
    std::string bytes;
  };
  std::vector<Case> cases = {
      {"empty", ""},
      {"short header", good.substr(0, 10)},
      {"bad magic", "XGA" + good.substr(3)},
      {"unknown version", good.substr(0, 3) + '\x02' + good.substr(4)},
      {"truncated payload", good.substr(0, good.size() - 1)},
      {"trailing byte", good + "x"},
      {"payload sequence differs from header", payload_seq_differs},
      {"non-canonical payload", duplicate_field},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK_FALSE(decodeRecord(c.bytes).ok());
  }
}

TEST_CASE("record_hash is SHA-256 over prev_hash then the canonical bytes") {
  std::string bytes = encodeRecord(makeEvent(1), 1).value();
  Hash prev = chainHash(kZeroHash, "seed");
  std::string joined = std::string(hashBytes(prev)) + bytes;
  Hash expected;
  SHA256(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), expected.data());
  CHECK(chainHash(prev, bytes) == expected);
  CHECK(hashFromHex(hashHex(expected)).value() == expected);
  CHECK_FALSE(hashFromHex(hashHex(expected).substr(1)).ok());
  CHECK_FALSE(hashFromHex(std::string(64, 'g')).ok());
  CHECK_FALSE(hashFromBytes("short").ok());
}

TEST_CASE("page tokens round-trip and reject anything else") {
  for (uint64_t s : {uint64_t{0}, uint64_t{1}, uint64_t{1000}, uint64_t{INT64_MAX}}) {
    CHECK(decodePageToken(encodePageToken(s)).value() == s);
  }
  for (const char* bad : {"", "a1", "a10000000000000001x", "b10000000000000001",
                          "a1000000000000000G", "a1ffffffffffffffff"}) {
    INFO(bad);
    CHECK_FALSE(decodePageToken(bad).ok());
  }
}

TEST_CASE("LIKE wildcards in a text filter are escaped") {
  CHECK(escapeLike("100%_a\\b") == "100\\%\\_a\\\\b");
  CHECK(escapeLike("plain") == "plain");
}

TEST_CASE("search requests are validated and limits applied") {
  v1::SearchAuditRequest r;
  CHECK(searchFilterFromProto(r)->limit == kDefaultSearchLimit);
  r.set_limit(5000);
  CHECK(searchFilterFromProto(r)->limit == kMaxSearchLimit);
  r.set_limit(7);
  r.set_page_token(encodePageToken(70));
  r.mutable_from()->set_seconds(10);
  r.add_types(v1::EVENT_STATEMENT);
  auto f = searchFilterFromProto(r);
  REQUIRE(f.ok());
  CHECK(f->limit == 7);
  CHECK(f->after_sequence == 70);
  CHECK(f->from_us == 10000000);
  CHECK_FALSE(f->to_us.has_value());

  v1::SearchAuditRequest bad_token;
  bad_token.set_page_token("nope");
  CHECK(searchFilterFromProto(bad_token).status().code() == absl::StatusCode::kInvalidArgument);
  v1::SearchAuditRequest bad_time;
  bad_time.mutable_to()->set_nanos(-1);
  CHECK_FALSE(searchFilterFromProto(bad_time).ok());
  v1::SearchAuditRequest bad_type;
  bad_type.add_types(static_cast<v1::EventType>(999));
  CHECK_FALSE(searchFilterFromProto(bad_type).ok());
}

TEST_CASE("the WHERE clause binds every filter as a parameter") {
  SearchFilter f;
  f.principal_id = "p' OR 1=1 --";
  f.text = "x";
  f.types = {v1::EVENT_STATEMENT, v1::EVENT_SESSION_END};
  f.after_sequence = 3;
  SqlWhere w = buildWhere(f);
  CHECK(w.clause.find("p'") == std::string::npos);
  CHECK(w.params.size() == 5);
  CHECK(buildWhere(SearchFilter{}).clause == "1");
}

}  // namespace
}  // namespace tollgate::controlplane::audit
