// Drives the PostgreSQL frontend decoder with hand-built client bytes.
#include <catch2/catch_test_macros.hpp>

#include <functional>
#include <string>
#include <vector>

#include "sidecar/postgres/buffer.h"
#include "sidecar/postgres/frontend_decoder.h"
#include "tests/sidecar/postgres_test_bytes.h"

namespace tollgate::sidecar::postgres {
namespace {

using namespace testing;  // NOLINT: byte helpers

// Records each message as "<type>:<summary>" plus its raw bytes; an optional hook checks the
// parsed views while they are still valid.
class Recorder : public FrontendDecoderCallbacks {
 public:
  CallbackAction onMessage(const FrontendMessage& m) override {
    raws.emplace_back(m.raw);
    summaries.push_back(summarize(m));
    if (hook) hook(m);
    return stop_next ? (stop_next = false, CallbackAction::kStop) : CallbackAction::kContinue;
  }
  LargeMessage onLargeClientMessage(char type, uint32_t length) override {
    large_asked.push_back(std::string(1, type) + std::to_string(length));
    return stream_large ? large_answer : LargeMessage::kWhole;
  }

  static std::string summarize(const FrontendMessage& m) {
    const FrontendBody& b = m.body;
    if (auto* s = std::get_if<StartupMessage>(&b)) {
      return "startup:" + std::string(s->parameter("user").value_or("-"));
    }
    if (std::holds_alternative<SslRequest>(b)) return "ssl";
    if (std::holds_alternative<GssEncRequest>(b)) return "gssenc";
    if (auto* c = std::get_if<CancelRequest>(&b)) {
      return "cancel:" + std::to_string(c->process_id);
    }
    if (auto* q = std::get_if<Query>(&b)) return "Q:" + std::string(q->sql);
    if (auto* p = std::get_if<Parse>(&b)) return "P:" + std::string(p->query);
    if (auto* x = std::get_if<Bind>(&b)) return "B:" + std::to_string(x->params.size());
    if (std::holds_alternative<Sync>(b)) return "S";
    if (std::holds_alternative<Terminate>(b)) return "X";
    if (auto* d = std::get_if<CopyData>(&b)) return "d:" + std::string(d->data);
    if (auto* x = std::get_if<DroppedMessage>(&b)) {
      return "dropped:" + std::string(1, m.type) + std::to_string(x->length) + ":" +
             std::to_string(x->head.size()) + ":" + std::string(x->head.substr(0, 8));
    }
    return std::string(1, m.type);
  }

  std::vector<std::string> raws;
  std::vector<std::string> summaries;
  std::vector<std::string> large_asked;
  std::function<void(const FrontendMessage&)> hook;
  bool stop_next = false;
  bool stream_large = false;
  LargeMessage large_answer = LargeMessage::kStream;  // when stream_large
};

// Appends `bytes` to `in` and decodes until the decoder wants more data (or stops/fails).
// Passthrough chunks are collected in `passed`.
DecodeStatus feed(FrontendDecoder& d, Buffer& in, std::string_view bytes,
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

std::string startup(const std::string& user) {
  return packet(be32(3u << 16) + cstr("user") + cstr(user) + cstr("database") + cstr("pay") +
                std::string(1, '\0'));
}

std::string bindTwoParams() {
  return msg('B', cstr("portal") + cstr("stmt") + be16(1) + be16(0) + be16(2) + value("42") +
                      nullValue() + be16(1) + be16(1));
}

TEST_CASE("startup message exposes its parameters and enters the message phase") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  rec.hook = [](const FrontendMessage& m) {
    const auto& s = std::get<StartupMessage>(m.body);
    CHECK(s.major_version == 3);
    CHECK(s.minor_version == 0);
    CHECK(s.parameter("database") == "pay");
    CHECK_FALSE(s.parameter("options").has_value());
    int n = 0;
    s.forEachParameter([&](std::string_view, std::string_view) { ++n; });
    CHECK(n == 2);
  };
  Buffer in;
  CHECK(feed(*d, in, startup("alice")) == DecodeStatus::kNeedMoreData);
  CHECK(rec.summaries == std::vector<std::string>{"startup:alice"});
  CHECK(d->phase() == FrontendDecoder::Phase::kMessages);
  CHECK(in.empty());
}

TEST_CASE("SSLRequest and GSSENCRequest keep the startup phase") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, packet(be32(80877104)) + packet(be32(80877103)));
  CHECK(d->phase() == FrontendDecoder::Phase::kStartup);
  feed(*d, in, startup("bob"));
  CHECK(rec.summaries == std::vector<std::string>{"gssenc", "ssl", "startup:bob"});
}

TEST_CASE("CancelRequest ends the session: later bytes are an error") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  rec.hook = [](const FrontendMessage& m) {
    CHECK(std::get<CancelRequest>(m.body).secret_key == be32(0xdeadbeef));
  };
  Buffer in;
  CHECK(feed(*d, in, packet(be32(80877102) + be32(4242) + be32(0xdeadbeef))) ==
        DecodeStatus::kNeedMoreData);
  CHECK(rec.summaries == std::vector<std::string>{"cancel:4242"});
  CHECK(d->phase() == FrontendDecoder::Phase::kDone);
  CHECK(feed(*d, in, "x") == DecodeStatus::kError);
}

TEST_CASE("bad startup packets are rejected") {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"length below 8", be32(7) + be32(3u << 16)},
      {"length above 10000", be32(10001) + be32(3u << 16)},
      {"protocol 2.0", packet(be32(2u << 16) + cstr("user") + cstr("a") + std::string(1, '\0'))},
      {"no final terminator", packet(be32(3u << 16) + cstr("user") + cstr("a"))},
      {"bytes after terminator", packet(be32(3u << 16) + std::string(1, '\0') + "zz")},
      {"SSLRequest with a body", packet(be32(80877103) + "x")},
      {"cancel key too long", packet(be32(80877102) + be32(1) + std::string(257, 'k'))},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Recorder rec;
    auto d = createFrontendDecoder(rec);
    Buffer in;
    CHECK(feed(*d, in, c.bytes) == DecodeStatus::kError);
    CHECK(d->phase() == FrontendDecoder::Phase::kError);
    CHECK_FALSE(d->error().ok());
    CHECK(rec.summaries.empty());
  }
}

TEST_CASE("typed client messages are parsed with their fields") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  std::vector<std::function<void(const FrontendMessage&)>> checks;
  std::string bytes;

  bytes += msg('Q', cstr("select 1"));
  checks.push_back(
      [](const FrontendMessage& m) { CHECK(std::get<Query>(m.body).sql == "select 1"); });
  bytes += msg('P', cstr("s1") + cstr("select $1, $2") + be16(2) + be32(23) + be32(0));
  checks.push_back([](const FrontendMessage& m) {
    const auto& p = std::get<Parse>(m.body);
    CHECK(p.statement == "s1");
    CHECK(p.query == "select $1, $2");
    REQUIRE(p.param_types.size() == 2);
    CHECK(p.param_types[0] == 23);
    CHECK(p.param_types[1] == 0);
  });
  bytes += bindTwoParams();
  checks.push_back([](const FrontendMessage& m) {
    const auto& b = std::get<Bind>(m.body);
    CHECK(b.portal == "portal");
    CHECK(b.statement == "stmt");
    REQUIRE(b.param_formats.size() == 1);
    CHECK(b.param_formats[0] == 0);
    std::vector<std::optional<std::string_view>> params(b.params.begin(), b.params.end());
    REQUIRE(params.size() == 2);
    CHECK(params[0] == "42");
    CHECK_FALSE(params[1].has_value());
    REQUIRE(b.result_formats.size() == 1);
    CHECK(b.result_formats[0] == 1);
  });
  bytes += msg('D', "P" + cstr("portal"));
  checks.push_back([](const FrontendMessage& m) {
    CHECK(std::get<Describe>(m.body).kind == 'P');
    CHECK(std::get<Describe>(m.body).name == "portal");
  });
  bytes += msg('E', cstr("portal") + be32(100));
  checks.push_back([](const FrontendMessage& m) {
    CHECK(std::get<Execute>(m.body).portal == "portal");
    CHECK(std::get<Execute>(m.body).max_rows == 100);
  });
  bytes += msg('C', "S" + cstr("s1"));
  checks.push_back([](const FrontendMessage& m) { CHECK(std::get<Close>(m.body).name == "s1"); });
  bytes += msg('H', "");
  checks.push_back([](const FrontendMessage& m) { CHECK(std::holds_alternative<Flush>(m.body)); });
  bytes += msg('S', "");
  checks.push_back([](const FrontendMessage& m) { CHECK(std::holds_alternative<Sync>(m.body)); });
  bytes += msg('d', std::string("a\0b", 3));
  checks.push_back([](const FrontendMessage& m) {
    CHECK(std::get<CopyData>(m.body).data == std::string_view("a\0b", 3));
  });
  bytes += msg('c', "");
  checks.push_back(
      [](const FrontendMessage& m) { CHECK(std::holds_alternative<CopyDone>(m.body)); });
  bytes += msg('f', cstr("client gave up"));
  checks.push_back([](const FrontendMessage& m) {
    CHECK(std::get<CopyFail>(m.body).message == "client gave up");
  });
  bytes += msg('F', be32(1598) + be16(0) + be16(1) + value("x") + be16(1));
  checks.push_back([](const FrontendMessage& m) {
    const auto& f = std::get<FunctionCall>(m.body);
    CHECK(f.function_oid == 1598);
    CHECK(f.args.size() == 1);
    CHECK(*f.args.begin() == "x");
    CHECK(f.result_format == 1);
  });
  bytes += msg('X', "");
  checks.push_back(
      [](const FrontendMessage& m) { CHECK(std::holds_alternative<Terminate>(m.body)); });

  size_t seen = 0;
  rec.hook = [&](const FrontendMessage& m) {
    REQUIRE(seen < checks.size());
    CHECK(m.raw.size() ==
          1 + (static_cast<size_t>(static_cast<unsigned char>(m.raw[1])) << 24 |
               static_cast<unsigned char>(m.raw[2]) << 16 |
               static_cast<unsigned char>(m.raw[3]) << 8 | static_cast<unsigned char>(m.raw[4])));
    checks[seen++](m);
  };
  CHECK(feed(*d, in, bytes) == DecodeStatus::kNeedMoreData);
  CHECK(seen == checks.size());
  CHECK(d->phase() == FrontendDecoder::Phase::kDone);
  CHECK(feed(*d, in, msg('S', "")) == DecodeStatus::kError);
}

TEST_CASE("'p' is read as the authentication exchange in progress") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  std::vector<size_t> kinds;
  rec.hook = [&](const FrontendMessage& m) { kinds.push_back(m.body.index()); };

  feed(*d, in, msg('p', "opaque"));
  d->expectAuthResponse(AuthResponseKind::kPassword);
  feed(*d, in, msg('p', cstr("md5abc")));
  d->expectAuthResponse(AuthResponseKind::kSaslInitial);
  rec.hook = [&](const FrontendMessage& m) {
    kinds.push_back(m.body.index());
    if (auto* s = std::get_if<SaslInitialResponse>(&m.body)) {
      CHECK(s->mechanism == "SCRAM-SHA-256");
      CHECK(s->data == "n,,n=,r=abc");
    }
    if (auto* s = std::get_if<SaslResponse>(&m.body)) CHECK(s->data == "c=biws");
  };
  feed(*d, in, msg('p', cstr("SCRAM-SHA-256") + be32(11) + "n,,n=,r=abc"));
  feed(*d, in, msg('p', "c=biws"));
  CHECK(kinds == std::vector<size_t>{FrontendBody(AuthResponse{}).index(),
                                     FrontendBody(PasswordMessage{}).index(),
                                     FrontendBody(SaslInitialResponse{}).index(),
                                     FrontendBody(SaslResponse{}).index()});
}

TEST_CASE("SASLInitialResponse with length -1 has no data; a wrong length is an error") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  d->expectAuthResponse(AuthResponseKind::kSaslInitial);
  rec.hook = [](const FrontendMessage& m) {
    CHECK_FALSE(std::get<SaslInitialResponse>(m.body).data.has_value());
  };
  CHECK(feed(*d, in, msg('p', cstr("SCRAM-SHA-256") + be32(0xffffffff))) ==
        DecodeStatus::kNeedMoreData);
  d->expectAuthResponse(AuthResponseKind::kSaslInitial);
  CHECK(feed(*d, in, msg('p', cstr("SCRAM-SHA-256") + be32(5) + "abc")) == DecodeStatus::kError);
}

TEST_CASE("a message split across reads at every byte offset decodes the same") {
  const std::string stream = startup("carol") + msg('Q', cstr("select * from cards")) +
                             msg('P', cstr("") + cstr("select $1") + be16(1) + be32(25)) +
                             bindTwoParams() + msg('S', "") + msg('X', "");
  Recorder whole;
  {
    auto d = createFrontendDecoder(whole);
    Buffer in;
    REQUIRE(feed(*d, in, stream) == DecodeStatus::kNeedMoreData);
  }
  REQUIRE(whole.summaries.size() == 6);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    Recorder rec;
    auto d = createFrontendDecoder(rec);
    Buffer in;
    CHECK(feed(*d, in, stream.substr(0, cut)) == DecodeStatus::kNeedMoreData);
    CHECK(feed(*d, in, stream.substr(cut)) == DecodeStatus::kNeedMoreData);
    CHECK(rec.summaries == whole.summaries);
    CHECK(rec.raws == whole.raws);
  }
  // One byte per read.
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  for (char c : stream) CHECK(feed(*d, in, std::string(1, c)) == DecodeStatus::kNeedMoreData);
  CHECK(rec.summaries == whole.summaries);
}

TEST_CASE("two messages in one read are both reported, in order") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  feed(*d, in, msg('Q', cstr("select 1")) + msg('Q', cstr("select 2")));
  CHECK(rec.summaries == std::vector<std::string>{"startup:u", "Q:select 1", "Q:select 2"});
}

TEST_CASE("bad message lengths fail before the body is buffered") {
  for (uint32_t bad : {0u, 3u}) {
    Recorder rec;
    auto d = createFrontendDecoder(rec);
    Buffer in;
    feed(*d, in, startup("u"));
    CHECK(feed(*d, in, "Q" + be32(bad)) == DecodeStatus::kError);
  }
  DecoderConfig config;
  config.max_message_length = 1024;
  Recorder rec;
  auto d = createFrontendDecoder(rec, config);
  Buffer in;
  feed(*d, in, startup("u"));
  CHECK(feed(*d, in, msg('Q', cstr(std::string(1000, 'a')))) == DecodeStatus::kNeedMoreData);
  // Only the header of a too-large message: rejected at once.
  CHECK(feed(*d, in, "Q" + be32(1025)) == DecodeStatus::kError);
  CHECK(d->error().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("an unknown message type fails on its first byte, before any length") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  // A second startup packet (SSLRequest) mid-session: type byte 0.
  CHECK(feed(*d, in, std::string(1, '\0')) == DecodeStatus::kError);
  CHECK(d->error().message() == "invalid frontend message type 0");
  Recorder rec2;
  auto d2 = createFrontendDecoder(rec2);
  Buffer in2;
  feed(*d2, in2, startup("u"));
  CHECK(feed(*d2, in2, "z") == DecodeStatus::kError);
  CHECK(d2->error().message() == "invalid frontend message type 122");
}

TEST_CASE("the error state is terminal") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  CHECK(feed(*d, in, msg('z', "")) == DecodeStatus::kError);
  const std::string valid = msg('Q', cstr("select 1"));
  DecodeResult r = d->decode(valid);
  CHECK(r.status == DecodeStatus::kError);
  CHECK(r.consumed == 0);
  CHECK(rec.summaries.size() == 1);
}

TEST_CASE("malformed typed messages are errors") {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"unknown type", msg('z', "")},
      {"Query without terminator", msg('Q', "select 1")},
      {"Query with trailing bytes", msg('Q', cstr("select 1") + "x")},
      {"Sync with a body", msg('S', "x")},
      {"Describe of unknown kind", msg('D', "X" + cstr("n"))},
      {"Bind with 2 formats for 1 param", msg('B', cstr("") + cstr("") + be16(2) + be16(0) +
                                                       be16(0) + be16(1) + value("1") + be16(0))},
      {"Bind value longer than message",
       msg('B', cstr("") + cstr("") + be16(0) + be16(1) + be32(100) + "ab" + be16(0))},
      {"Bind value length -2",
       msg('B', cstr("") + cstr("") + be16(0) + be16(1) + be32(0xfffffffe) + be16(0))},
      {"Parse with truncated types", msg('P', cstr("") + cstr("q") + be16(2) + be32(23))},
      {"Execute without row count", msg('E', cstr("p"))},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Recorder rec;
    auto d = createFrontendDecoder(rec);
    Buffer in;
    feed(*d, in, startup("u"));
    CHECK(feed(*d, in, c.bytes) == DecodeStatus::kError);
    CHECK(rec.summaries.size() == 1);
  }
}

TEST_CASE("a callback can stop decoding after a message and resume later") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  rec.stop_next = true;
  const std::string two = msg('Q', cstr("delete from t")) + msg('S', "");
  in.append(two);
  DecodeResult r = d->decode(in.view());
  CHECK(r.status == DecodeStatus::kStopped);
  CHECK(r.consumed == two.size() - 5);
  in.consume(r.consumed);
  CHECK(rec.summaries.back() == "Q:delete from t");
  CHECK(feed(*d, in, "") == DecodeStatus::kNeedMoreData);
  CHECK(rec.summaries.back() == "S");
}

TEST_CASE("large messages stream through when the callbacks agree") {
  DecoderConfig config;
  config.stream_threshold = 16;
  Recorder rec;
  rec.stream_large = true;
  auto d = createFrontendDecoder(rec, config);
  Buffer in;
  feed(*d, in, startup("u"));
  const std::string big = msg('d', std::string(100, 'r'));
  std::string passed;
  CHECK(feed(*d, in, big.substr(0, 30), &passed) == DecodeStatus::kNeedMoreData);
  CHECK(passed == big.substr(0, 30));
  CHECK(feed(*d, in, big.substr(30) + msg('c', ""), &passed) == DecodeStatus::kNeedMoreData);
  CHECK(passed == big);
  CHECK(rec.large_asked == std::vector<std::string>{"d104"});
  CHECK(rec.summaries == std::vector<std::string>{"startup:u", "c"});
}

TEST_CASE("large messages are buffered whole when the callbacks decline, asked once") {
  DecoderConfig config;
  config.stream_threshold = 16;
  Recorder rec;
  auto d = createFrontendDecoder(rec, config);
  Buffer in;
  feed(*d, in, startup("u"));
  const std::string big = msg('Q', cstr(std::string(50, 'q')));
  for (char c : big) feed(*d, in, std::string(1, c));
  CHECK(rec.large_asked == std::vector<std::string>{"Q55"});
  CHECK(rec.summaries.back() == "Q:" + std::string(50, 'q'));
  // A whole large message that arrives at once is not offered for streaming.
  feed(*d, in, big);
  CHECK(rec.large_asked.size() == 1);
}

TEST_CASE("a large message the callbacks drop is consumed unread and reported by its head") {
  DecoderConfig config;
  config.stream_threshold = 16;
  config.max_message_length = 2048;  // the Query below is over it: dropping still applies
  Recorder rec;
  rec.stream_large = true;
  rec.large_answer = LargeMessage::kDrop;
  auto d = createFrontendDecoder(rec, config);
  Buffer in;
  feed(*d, in, startup("u"));
  const std::string parse =
      msg('P', cstr("big") + cstr(std::string(3000, 'q')) + be16(1) + be32(25));
  const std::string query = msg('Q', cstr(std::string(5000, 'x')));
  std::string passed;
  const std::string all = parse + query + msg('S', "");
  for (size_t at = 0; at < all.size(); at += 7) {
    REQUIRE(feed(*d, in, all.substr(at, 7), &passed) == DecodeStatus::kNeedMoreData);
    // Nothing of a dropped message waits in the buffer beyond what one feed brought.
    CHECK(in.size() < 7);
  }
  CHECK(passed.empty());
  CHECK(in.empty());
  CHECK(rec.large_asked == std::vector<std::string>{"P3015", "Q5005"});
  REQUIRE(rec.summaries.size() == 4);
  CHECK(rec.summaries[1] == "dropped:P3015:1024:" + std::string("big\0qqqq", 8));
  CHECK(rec.summaries[2] == "dropped:Q5005:1024:xxxxxxxx");
  CHECK(rec.summaries[3] == "S");
  CHECK(rec.raws[1].empty());
}

TEST_CASE("an incomplete message says how many bytes it needs in all") {
  Recorder rec;
  auto d = createFrontendDecoder(rec);
  Buffer in;
  feed(*d, in, startup("u"));
  const std::string q = msg('Q', cstr(std::string(100, 'z')));
  in.append(q.substr(0, 10));
  DecodeResult r = d->decode(in.view());
  CHECK(r.status == DecodeStatus::kNeedMoreData);
  CHECK(r.wanted == q.size());
}

}  // namespace
}  // namespace tollgate::sidecar::postgres
