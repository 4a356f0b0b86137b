// Drives the PostgreSQL backend decoder with hand-built server bytes.
#include <catch2/catch_test_macros.hpp>

#include <functional>
#include <string>
#include <vector>

#include "sidecar/postgres/backend_decoder.h"
#include "sidecar/postgres/buffer.h"
#include "tests/sidecar/postgres_test_bytes.h"

namespace tollgate::sidecar::postgres {
namespace {

using namespace testing;  // NOLINT: byte helpers

class Recorder : public BackendDecoderCallbacks {
 public:
  CallbackAction onMessage(const BackendMessage& m) override {
    types.push_back(m.type);
    raws.emplace_back(m.raw);
    if (hook) hook(m);
    return CallbackAction::kContinue;
  }
  bool onLargeMessage(char, uint32_t) override { return stream_large; }

  std::string types;
  std::vector<std::string> raws;
  std::function<void(const BackendMessage&)> hook;
  bool stream_large = false;
};

DecodeStatus feed(BackendDecoder& d, Buffer& in, std::string_view bytes,
                  std::string* passed = nullptr) {
  in.append(bytes);
  while (true) {
    DecodeResult r = d.decode(in.view());
    REQUIRE(r.consumed <= in.size());
    if (r.passthrough && passed != nullptr) passed->append(in.data(), r.consumed);
    in.consume(r.consumed);
    if (r.status != DecodeStatus::kReadyForNext) return r.status;
  }
}

std::string auth(uint32_t code, const std::string& rest = "") {
  return msg('R', be32(code) + rest);
}

std::string field(const std::string& name, uint32_t table, uint16_t attnum, uint32_t type,
                  uint16_t typlen, uint32_t typmod, uint16_t format) {
  return cstr(name) + be32(table) + be16(attnum) + be32(type) + be16(typlen) + be32(typmod) +
         be16(format);
}

// Table of server messages: bytes and a check run on the parsed message.
struct Case {
  const char* name;
  std::string bytes;
  std::function<void(const BackendMessage&)> check;
};

std::vector<Case> validCases() {
  return {
      {"AuthenticationOk", auth(0),
       [](const BackendMessage& m) {
         CHECK(std::get<Authentication>(m.body).code == AuthCode::kOk);
       }},
      {"AuthenticationCleartextPassword", auth(3),
       [](const BackendMessage& m) {
         CHECK(std::get<Authentication>(m.body).code == AuthCode::kCleartextPassword);
       }},
      {"AuthenticationMD5Password", auth(5, "salt"),
       [](const BackendMessage& m) {
         const auto& a = std::get<Authentication>(m.body);
         CHECK(a.code == AuthCode::kMd5Password);
         CHECK(a.salt == "salt");
       }},
      {"AuthenticationSASL",
       auth(10, cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + std::string(1, '\0')),
       [](const BackendMessage& m) {
         const auto& a = std::get<Authentication>(m.body);
         CHECK(a.code == AuthCode::kSasl);
         CHECK(a.mechanisms.contains("SCRAM-SHA-256"));
         CHECK(a.mechanisms.contains("SCRAM-SHA-256-PLUS"));
         CHECK_FALSE(a.mechanisms.contains("SCRAM"));
       }},
      {"AuthenticationSASLContinue", auth(11, "r=abc,s=c2FsdA==,i=4096"),
       [](const BackendMessage& m) {
         CHECK(std::get<Authentication>(m.body).data == "r=abc,s=c2FsdA==,i=4096");
       }},
      {"AuthenticationSASLFinal", auth(12, "v=xyz"),
       [](const BackendMessage& m) {
         CHECK(std::get<Authentication>(m.body).code == AuthCode::kSaslFinal);
         CHECK(std::get<Authentication>(m.body).data == "v=xyz");
       }},
      {"ParameterStatus", msg('S', cstr("server_version") + cstr("16.2")),
       [](const BackendMessage& m) {
         CHECK(std::get<ParameterStatus>(m.body).name == "server_version");
         CHECK(std::get<ParameterStatus>(m.body).value == "16.2");
       }},
      {"BackendKeyData 3.0", msg('K', be32(77) + be32(0x01020304)),
       [](const BackendMessage& m) {
         CHECK(std::get<BackendKeyData>(m.body).process_id == 77);
         CHECK(std::get<BackendKeyData>(m.body).secret_key == be32(0x01020304));
       }},
      {"BackendKeyData 3.2 long key", msg('K', be32(77) + std::string(32, 'k')),
       [](const BackendMessage& m) {
         CHECK(std::get<BackendKeyData>(m.body).secret_key.size() == 32);
       }},
      {"ReadyForQuery", msg('Z', "T"),
       [](const BackendMessage& m) { CHECK(std::get<ReadyForQuery>(m.body).status == 'T'); }},
      {"RowDescription",
       msg('T', be16(2) + field("pan", 16384, 2, 25, 0xffff, 0xffffffff, 0) +
                    field("amount", 16384, 3, 1700, 0xffff, 655366, 1)),
       [](const BackendMessage& m) {
         const auto& t = std::get<RowDescription>(m.body);
         std::vector<FieldDescription> f;
         t.forEachField([&](uint16_t, const FieldDescription& d) { f.push_back(d); });
         REQUIRE(f.size() == 2);
         CHECK(f[0].name == "pan");
         CHECK(f[0].table_oid == 16384);
         CHECK(f[0].column_attnum == 2);
         CHECK(f[0].type_oid == 25);
         CHECK(f[0].type_size == -1);
         CHECK(f[0].type_modifier == -1);
         CHECK(f[1].name == "amount");
         CHECK(f[1].type_oid == 1700);
         CHECK(f[1].type_modifier == 655366);
         CHECK(f[1].format == 1);
       }},
      {"DataRow", msg('D', be16(3) + value("4111111111111111") + nullValue() + value("")),
       [](const BackendMessage& m) {
         const auto& d = std::get<DataRow>(m.body);
         std::vector<ValueList::Value> v(d.columns.begin(), d.columns.end());
         REQUIRE(v.size() == 3);
         CHECK(v[0] == "4111111111111111");
         CHECK_FALSE(v[1].has_value());
         CHECK(v[2] == "");
       }},
      {"CommandComplete", msg('C', cstr("SELECT 3")),
       [](const BackendMessage& m) { CHECK(std::get<CommandComplete>(m.body).tag == "SELECT 3"); }},
      {"EmptyQueryResponse", msg('I', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<EmptyQueryResponse>(m.body)); }},
      {"ErrorResponse",
       msg('E',
           "S" + cstr("ERROR") + "C" + cstr("42501") + "M" + cstr("denied") + std::string(1, '\0')),
       [](const BackendMessage& m) {
         const auto& e = std::get<ErrorResponse>(m.body);
         CHECK(e.fields.get('C') == "42501");
         CHECK(e.fields.get('M') == "denied");
         CHECK_FALSE(e.fields.get('D').has_value());
       }},
      {"NoticeResponse", msg('N', "S" + cstr("NOTICE") + std::string(1, '\0')),
       [](const BackendMessage& m) {
         CHECK(std::get<NoticeResponse>(m.body).fields.get('S') == "NOTICE");
       }},
      {"NotificationResponse", msg('A', be32(9) + cstr("chan") + cstr("hello")),
       [](const BackendMessage& m) {
         const auto& a = std::get<NotificationResponse>(m.body);
         CHECK(a.process_id == 9);
         CHECK(a.channel == "chan");
         CHECK(a.payload == "hello");
       }},
      {"ParseComplete", msg('1', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<ParseComplete>(m.body)); }},
      {"BindComplete", msg('2', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<BindComplete>(m.body)); }},
      {"CloseComplete", msg('3', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<CloseComplete>(m.body)); }},
      {"NoData", msg('n', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<NoData>(m.body)); }},
      {"PortalSuspended", msg('s', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<PortalSuspended>(m.body)); }},
      {"ParameterDescription", msg('t', be16(2) + be32(23) + be32(25)),
       [](const BackendMessage& m) {
         const auto& t = std::get<ParameterDescription>(m.body);
         REQUIRE(t.types.size() == 2);
         CHECK(t.types[1] == 25);
       }},
      {"CopyInResponse", msg('G', std::string(1, '\0') + be16(2) + be16(0) + be16(0)),
       [](const BackendMessage& m) {
         const auto& c = std::get<CopyResponse>(m.body);
         CHECK(c.kind == 'G');
         CHECK(c.column_formats.size() == 2);
       }},
      {"CopyOutResponse", msg('H', std::string(1, '\1') + be16(1) + be16(1)),
       [](const BackendMessage& m) {
         CHECK(std::get<CopyResponse>(m.body).format == 1);
         CHECK(std::get<CopyResponse>(m.body).column_formats[0] == 1);
       }},
      {"CopyBothResponse", msg('W', std::string(1, '\0') + be16(0)),
       [](const BackendMessage& m) { CHECK(std::get<CopyResponse>(m.body).kind == 'W'); }},
      {"CopyData", msg('d', "1\t4111\n"),
       [](const BackendMessage& m) { CHECK(std::get<CopyData>(m.body).data == "1\t4111\n"); }},
      {"CopyDone", msg('c', ""),
       [](const BackendMessage& m) { CHECK(std::holds_alternative<CopyDone>(m.body)); }},
      {"NegotiateProtocolVersion", msg('v', be32(0) + be32(1) + cstr("_pq_.foo")),
       [](const BackendMessage& m) {
         CHECK(std::get<NegotiateProtocolVersion>(m.body).option_count == 1);
         CHECK(std::get<NegotiateProtocolVersion>(m.body).options_raw == cstr("_pq_.foo"));
       }},
      {"FunctionCallResponse", msg('V', value("42")),
       [](const BackendMessage& m) {
         CHECK(std::get<FunctionCallResponse>(m.body).value == "42");
       }},
      {"FunctionCallResponse NULL", msg('V', nullValue()),
       [](const BackendMessage& m) {
         CHECK_FALSE(std::get<FunctionCallResponse>(m.body).value.has_value());
       }},
  };
}

TEST_CASE("every server message type is parsed with its fields") {
  for (const Case& c : validCases()) {
    INFO(c.name);
    Recorder rec;
    auto d = createBackendDecoder(rec);
    rec.hook = c.check;
    Buffer in;
    CHECK(feed(*d, in, c.bytes) == DecodeStatus::kNeedMoreData);
    CHECK(rec.raws == std::vector<std::string>{c.bytes});
    CHECK(in.empty());
  }
}

TEST_CASE("all server messages back to back, split at every byte offset") {
  std::string stream;
  for (const Case& c : validCases()) stream += c.bytes;
  Recorder whole;
  {
    auto d = createBackendDecoder(whole);
    Buffer in;
    REQUIRE(feed(*d, in, stream) == DecodeStatus::kNeedMoreData);
  }
  REQUIRE(whole.raws.size() == validCases().size());
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    Recorder rec;
    auto d = createBackendDecoder(rec);
    Buffer in;
    CHECK(feed(*d, in, stream.substr(0, cut)) == DecodeStatus::kNeedMoreData);
    CHECK(feed(*d, in, stream.substr(cut)) == DecodeStatus::kNeedMoreData);
    CHECK(rec.raws == whole.raws);
  }
}

TEST_CASE("malformed server messages are errors") {
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"unknown type", msg('!', "")},
      {"unknown auth code", auth(99)},
      {"AuthenticationOk with trailing bytes", auth(0, "x")},
      {"MD5 salt too short", auth(5, "abc")},
      {"SASL list without final empty name", auth(10, cstr("SCRAM-SHA-256"))},
      {"BackendKeyData key too short", msg('K', be32(1) + "abc")},
      {"ReadyForQuery bad status", msg('Z', "X")},
      {"ReadyForQuery no status", msg('Z', "")},
      {"RowDescription truncated field", msg('T', be16(1) + cstr("a") + be32(1))},
      {"RowDescription more fields than bytes", msg('T', be16(2) + field("a", 0, 0, 25, 0, 0, 0))},
      {"DataRow value past the end", msg('D', be16(1) + be32(10) + "abc")},
      {"DataRow length -2", msg('D', be16(1) + be32(0xfffffffe))},
      {"DataRow trailing bytes", msg('D', be16(1) + value("a") + "z")},
      {"ErrorResponse without terminator", msg('E', "S" + cstr("ERROR"))},
      {"ErrorResponse field without NUL", msg('E', "Sabc")},
      {"CommandComplete without NUL", msg('C', "SELECT 1")},
      {"ParseComplete with body", msg('1', "x")},
      {"NegotiateProtocolVersion count too high", msg('v', be32(0) + be32(5) + cstr("a"))},
      {"FunctionCallResponse short value", msg('V', be32(4) + "ab")},
  };
  for (const auto& [name, bytes] : cases) {
    INFO(name);
    Recorder rec;
    auto d = createBackendDecoder(rec);
    Buffer in;
    CHECK(feed(*d, in, bytes) == DecodeStatus::kError);
    CHECK(d->failed());
    CHECK_FALSE(d->error().ok());
    CHECK(rec.raws.empty());
    // Terminal: even valid bytes are refused afterwards.
    DecodeResult r = d->decode(msg('Z', "I"));
    CHECK(r.status == DecodeStatus::kError);
    CHECK(r.consumed == 0);
  }
}

TEST_CASE("server length fields below 4 or above the limit fail at the header") {
  DecoderConfig config;
  config.max_message_length = 64;
  for (uint32_t len : {0u, 1u, 3u, 65u, 0xffffffffu}) {
    INFO(len);
    Recorder rec;
    auto d = createBackendDecoder(rec, config);
    Buffer in;
    CHECK(feed(*d, in, "D" + be32(len)) == DecodeStatus::kError);
  }
  Recorder rec;
  auto d = createBackendDecoder(rec, config);
  Buffer in;
  CHECK(feed(*d, in, msg('d', std::string(60, 'x'))) == DecodeStatus::kNeedMoreData);
  CHECK(rec.types == "d");
}

TEST_CASE("the answer to SSLRequest is one byte, then typed messages resume") {
  for (char answer : {'S', 'N', 'G'}) {
    Recorder rec;
    auto d = createBackendDecoder(rec);
    rec.hook = [&](const BackendMessage& m) {
      if (m.type == 0) CHECK(std::get<EncryptionResponse>(m.body).answer == answer);
    };
    d->expectEncryptionResponse();
    Buffer in;
    CHECK(feed(*d, in, std::string(1, answer) + auth(0)) == DecodeStatus::kNeedMoreData);
    CHECK(rec.types == std::string("\0R", 2));
    CHECK(rec.raws[0] == std::string(1, answer));
  }
}

TEST_CASE("an ErrorResponse may answer SSLRequest; other bytes are an error") {
  Recorder rec;
  auto d = createBackendDecoder(rec);
  d->expectEncryptionResponse();
  Buffer in;
  const std::string err =
      msg('E', "S" + cstr("FATAL") + "M" + cstr("unsupported") + std::string(1, '\0'));
  CHECK(feed(*d, in, err.substr(0, 3)) == DecodeStatus::kNeedMoreData);
  CHECK(feed(*d, in, err.substr(3)) == DecodeStatus::kNeedMoreData);
  CHECK(rec.types == "E");
  // Expectation cleared: 'S' is now ParameterStatus, not an answer.
  CHECK(feed(*d, in, msg('S', cstr("a") + cstr("b"))) == DecodeStatus::kNeedMoreData);
  CHECK(rec.types == "ES");

  Recorder rec2;
  auto d2 = createBackendDecoder(rec2);
  d2->expectEncryptionResponse();
  Buffer in2;
  CHECK(feed(*d2, in2, "\x16") == DecodeStatus::kError);
}

TEST_CASE("a large DataRow streams only if the callbacks agree") {
  DecoderConfig config;
  config.stream_threshold = 32;
  const std::string big = msg('D', be16(1) + value(std::string(100, 'b')));
  {
    Recorder rec;
    rec.stream_large = true;
    auto d = createBackendDecoder(rec, config);
    Buffer in;
    std::string passed;
    CHECK(feed(*d, in, big.substr(0, 7), &passed) == DecodeStatus::kNeedMoreData);
    CHECK(feed(*d, in, big.substr(7) + msg('Z', "I"), &passed) == DecodeStatus::kNeedMoreData);
    CHECK(passed == big);
    CHECK(rec.types == "Z");
  }
  {
    Recorder rec;
    auto d = createBackendDecoder(rec, config);
    Buffer in;
    CHECK(feed(*d, in, big.substr(0, 7)) == DecodeStatus::kNeedMoreData);
    CHECK(in.size() == 7);
    CHECK(feed(*d, in, big.substr(7)) == DecodeStatus::kNeedMoreData);
    CHECK(rec.raws == std::vector<std::string>{big});
  }
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
