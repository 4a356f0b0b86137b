// Message builders, error fields and the streaming byte buffer of sidecar/postgres.
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/buffer.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/postgres/frontend_messages.h"
#include "tests/sidecar/postgres_test_bytes.h"

namespace tollgate::sidecar::postgres {
namespace {

using namespace testing;  // NOLINT: byte helpers

TEST_CASE("server answer builders produce the documented bytes") {
  CHECK(buildAuthenticationOk() == msg('R', be32(0)));
  CHECK(buildAuthenticationCleartextPassword() == msg('R', be32(3)));
  CHECK(buildAuthenticationMd5Password("salt") == msg('R', be32(5) + "salt"));
  const std::vector<std::string_view> mechs = {"SCRAM-SHA-256"};
  CHECK(buildAuthenticationSasl(mechs) ==
        msg('R', be32(10) + cstr("SCRAM-SHA-256") + std::string(1, '\0')));
  CHECK(buildAuthenticationSaslContinue("r=x") == msg('R', be32(11) + "r=x"));
  CHECK(buildAuthenticationSaslFinal("v=y") == msg('R', be32(12) + "v=y"));
  CHECK(buildParameterStatus("client_encoding", "UTF8") ==
        msg('S', cstr("client_encoding") + cstr("UTF8")));
  CHECK(buildBackendKeyData(7, be32(99)) == msg('K', be32(7) + be32(99)));
  for (char status : {'I', 'T', 'E'}) {
    CHECK(buildReadyForQuery(status) == msg('Z', std::string(1, status)));
  }
  CHECK(buildCommandComplete("SELECT 0") == msg('C', cstr("SELECT 0")));
  CHECK(buildEmptyQueryResponse() == msg('I', ""));
  const std::vector<std::optional<std::string_view>> row = {"a", std::nullopt};
  CHECK(buildDataRow(row) == msg('D', be16(2) + value("a") + nullValue()));
  FieldDescription f;
  f.name = "c";
  f.type_oid = 25;
  f.type_size = -1;
  f.type_modifier = -1;
  const std::vector<FieldDescription> fields = {f};
  CHECK(buildRowDescription(fields) == msg('T', be16(1) + cstr("c") + be32(0) + be16(0) + be32(25) +
                                                    be16(0xffff) + be32(0xffffffff) + be16(0)));
}

TEST_CASE("client builders produce the documented bytes") {
  const std::vector<StartupParameter> params = {{"user", "app"}, {"database", "pay"}};
  CHECK(buildStartupMessage(params) ==
        packet(be32(196608) + cstr("user") + cstr("app") + cstr("database") + cstr("pay") +
               std::string(1, '\0')));
  CHECK(buildSslRequest() == packet(be32(80877103)));
  CHECK(buildGssEncRequest() == packet(be32(80877104)));
  CHECK(buildCancelRequest(5, be32(6)) == packet(be32(80877102) + be32(5) + be32(6)));
  CHECK(buildQuery("select 1") == msg('Q', cstr("select 1")));
  CHECK(buildPasswordMessage("md5abc") == msg('p', cstr("md5abc")));
  CHECK(buildSaslInitialResponse("SCRAM-SHA-256", "n,,n=,r=x") ==
        msg('p', cstr("SCRAM-SHA-256") + be32(9) + "n,,n=,r=x"));
  CHECK(buildSaslResponse("c=biws") == msg('p', "c=biws"));
  CHECK(buildSync() == msg('S', ""));
  CHECK(buildTerminate() == msg('X', ""));
}

TEST_CASE("built startup packets parse back") {
  const std::vector<StartupParameter> params = {{"user", "app"}, {"application_name", "job"}};
  std::string raw = buildStartupMessage(params, 2);
  absl::StatusOr<FrontendBody> body = parseStartupPacket(raw);
  REQUIRE(body.ok());
  const auto& s = std::get<StartupMessage>(*body);
  CHECK(s.minor_version == 2);
  CHECK(s.parameter("application_name") == "job");
}

TEST_CASE("builders cut text at NUL instead of corrupting the frame") {
  std::string q = buildQuery(std::string_view("select 1\0; drop table t", 23));
  CHECK(q == msg('Q', cstr("select 1")));
}

TEST_CASE("ErrorResponse carries S, V, C, M and optional D, H") {
  ErrorFields f{"ERROR", "42501", "statement blocked by rule no-ddl", "", "ask for a grant"};
  std::string raw = buildErrorResponse(f);
  CHECK(raw == msg('E', "S" + cstr("ERROR") + "V" + cstr("ERROR") + "C" + cstr("42501") + "M" +
                            cstr("statement blocked by rule no-ddl") + "H" +
                            cstr("ask for a grant") + std::string(1, '\0')));
  absl::StatusOr<ErrorFields> back = parseErrorMessage(raw);
  REQUIRE(back.ok());
  CHECK(back->severity == "ERROR");
  CHECK(back->code == "42501");
  CHECK(back->message == "statement blocked by rule no-ddl");
  CHECK(back->detail.empty());
  CHECK(back->hint == "ask for a grant");

  std::string notice = buildNoticeResponse({"WARNING", "01000", "masked", "3 values", ""});
  CHECK(notice[0] == 'N');
  absl::StatusOr<ErrorFields> n = parseErrorMessage(notice);
  REQUIRE(n.ok());
  CHECK(n->detail == "3 values");
}

TEST_CASE("error parser prefers the non-localized severity and rejects other messages") {
  std::string raw =
      msg('E', "S" + cstr("FEHLER") + "V" + cstr("ERROR") + "M" + cstr("x") + std::string(1, '\0'));
  absl::StatusOr<ErrorFields> f = parseErrorMessage(raw);
  REQUIRE(f.ok());
  CHECK(f->severity == "ERROR");
  CHECK_FALSE(parseErrorMessage(msg('Z', "I")).ok());
  CHECK_FALSE(parseErrorMessage(raw.substr(0, raw.size() - 1)).ok());
}

TEST_CASE("rewriteNoticeFields keeps every field and replaces only what it is told to") {
  std::string raw =
      msg('E', "S" + cstr("ERROR") + "C" + cstr("22P02") + "M" +
                   cstr("invalid input syntax for type integer: \"123x\"") + "W" +
                   cstr("SQL function \"f\"") + "P" + cstr("8") + std::string(1, '\0'));
  auto body = parseBackendBody('E', std::string_view(raw).substr(5));
  REQUIRE(body.ok());
  const NoticeFields& fields = std::get<ErrorResponse>(*body).fields;
  auto same = rewriteNoticeFields(
      'E', fields, [](char, std::string_view) { return std::optional<std::string>(); });
  CHECK_FALSE(same.has_value());
  auto out = rewriteNoticeFields('E', fields, [](char code, std::string_view v) {
    return code == 'M' ? std::optional<std::string>(withoutValues(v)) : std::nullopt;
  });
  REQUIRE(out.has_value());
  CHECK(*out == msg('E', "S" + cstr("ERROR") + "C" + cstr("22P02") + "M" +
                             cstr("invalid input syntax for type integer: \"***\"") + "W" +
                             cstr("SQL function \"f\"") + "P" + cstr("8") + std::string(1, '\0')));
}

TEST_CASE("withoutValues hides what PostgreSQL quotes and the numbers it writes") {
  CHECK(withoutValues("relation \"123\" does not exist") == "relation \"***\" does not exist");
  CHECK(withoutValues("invalid value \"1\"2\" for \"Month\"") == "invalid value \"***\"");
  CHECK(withoutValues("unterminated \"12") == "unterminated \"***\"");
  CHECK(withoutValues("division by zero") == "division by zero");
  CHECK(withoutValues("date field value out of range: 123-13-01") ==
        "date field value out of range: ***-**-**");
  CHECK(withoutValues("index 123 out of valid range, 0..7") ==
        "index *** out of valid range, *..*");
}

TEST_CASE("Buffer appends, consumes from the front and reuses its space") {
  Buffer b;
  CHECK(b.empty());
  b.append("hello ");
  b.append("world");
  CHECK(b.view() == "hello world");
  b.consume(6);
  CHECK(b.view() == "world");
  b.consume(5);
  CHECK(b.empty());
  // Streaming: many append/consume cycles stay within a bounded capacity.
  std::string expected;
  for (int i = 0; i < 10000; ++i) {
    std::string chunk(100 + i % 50, static_cast<char>('a' + i % 26));
    b.append(chunk);
    expected += chunk;
    size_t take = b.size() > 120 ? b.size() - 120 : 0;
    CHECK(b.view().substr(0, take) == std::string_view(expected).substr(0, take));
    b.consume(take);
    expected.erase(0, take);
  }
  CHECK(b.view() == expected);
  CHECK(b.capacity() <= 1024);
}

TEST_CASE("Buffer writable/commit reads in place, and shrinkIfIdle frees memory") {
  Buffer b;
  b.append("ab");
  char* w = b.writable(3);
  w[0] = 'c';
  w[1] = 'd';
  b.commit(2);
  CHECK(b.view() == "abcd");
  b.append(std::string(100000, 'x'));
  CHECK(b.size() == 100004);
  b.consume(b.size());
  b.shrinkIfIdle(4096);
  CHECK(b.capacity() == 0);
  b.append("again");
  CHECK(b.view() == "again");
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
