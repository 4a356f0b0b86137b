// Fuzz target: client bytes through the PostgreSQL frontend decoder in random-sized reads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/postgres/frontend_decoder.h"
#include "tests/fuzz/pg_fuzz_driver.h"

namespace tollgate::sidecar::postgres {
namespace {

using fuzz::check;

// Checks every reported message against the input it came from, and touches every view so
// ASan sees any out-of-bounds one.
class Checker : public FrontendDecoderCallbacks {
 public:
  CallbackAction onMessage(const FrontendMessage& m) override {
    if (const auto* d = std::get_if<DroppedMessage>(&m.body)) {
      // Only what was offered as large is dropped; its bytes were consumed chunk by chunk.
      check(stream_large && m.type == 'Q' && m.raw.empty());
      check(d->head.size() <= kDroppedHeadBytes && d->head.size() <= d->length - 4);
      sum += d->head.empty() ? 0 : static_cast<unsigned char>(d->head.back());
      last_size = 0;
      ++count;
      return CallbackAction::kContinue;
    }
    check(m.raw.data() == input.data() && m.raw.size() <= input.size());
    if (m.type != 0) {
      check(m.raw.size() >= kHeaderSize && m.raw[0] == m.type);
      check(loadU32(m.raw.data() + 1) + 1 == m.raw.size());
    } else {
      check(loadU32(m.raw.data()) == m.raw.size());
    }
    last_size = m.raw.size();
    touch(m.body);
    ++count;
    return (count % 7 == 3 && stop_sometimes) ? CallbackAction::kStop : CallbackAction::kContinue;
  }
  LargeMessage onLargeClientMessage(char type, uint32_t) override {
    if (!stream_large) return LargeMessage::kWhole;
    return type == 'Q' ? LargeMessage::kDrop : LargeMessage::kStream;
  }

  void touch(const FrontendBody& body) {
    std::visit([&](const auto& b) { touchOne(b); }, body);
  }
  template <typename T>
  void touchOne(const T&) {}
  void touchOne(const StartupMessage& s) {
    s.forEachParameter([&](std::string_view n, std::string_view v) { sum += n.size() + v.size(); });
    sum += s.parameter("user").value_or("").size();
  }
  void touchOne(const Query& q) { sum += q.sql.size(); }
  void touchOne(const Parse& p) {
    for (size_t i = 0; i < p.param_types.size(); ++i) sum += p.param_types[i];
  }
  void touchOne(const Bind& b) {
    for (size_t i = 0; i < b.param_formats.size(); ++i) sum += b.param_formats[i];
    size_t n = 0;
    for (auto v : b.params) {
      sum += v ? v->size() + (v->empty() ? 0 : (*v)[v->size() - 1]) : 1;
      ++n;
    }
    check(n == b.params.size());
    for (size_t i = 0; i < b.result_formats.size(); ++i) sum += b.result_formats[i];
  }
  void touchOne(const FunctionCall& f) {
    for (auto v : f.args) sum += v ? v->size() : 0;
  }
  void touchOne(const CancelRequest& c) { sum += c.secret_key.size(); }

  std::string_view input;
  size_t last_size = 0;
  size_t count = 0;
  size_t sum = 0;
  bool stream_large = false;
  bool stop_sometimes = false;
};

}  // namespace
}  // namespace tollgate::sidecar::postgres

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {  // NOLINT
  using namespace tollgate::sidecar::postgres;                             // NOLINT
  fuzz::FuzzInput in = fuzz::splitInput(data, size);
  Checker checker;
  checker.stream_large = (in.options & 1) != 0;
  checker.stop_sometimes = (in.options & 2) != 0;
  DecoderConfig config;
  config.max_message_length = (in.options & 4) ? 256 : 1u << 30;
  config.stream_threshold = (in.options & 8) ? 32 : 0;
  FrontendDecoderPtr decoder = createFrontendDecoder(checker, config);
  if (in.options & 16) decoder->expectAuthResponse(AuthResponseKind::kSaslInitial);
  if (in.options & 32) decoder->expectAuthResponse(AuthResponseKind::kPassword);
  fuzz::feedInChunks(
      in,
      [&](std::string_view input) {
        checker.input = input;
        checker.last_size = 0;
        return decoder->decode(input);
      },
      [&](const DecodeResult& r, std::string_view) {
        if (r.status == DecodeStatus::kError) {
          fuzz::check(decoder->phase() == FrontendDecoder::Phase::kError);
          fuzz::check(!decoder->error().ok());
        }
        // A message reported whole is consumed whole; a chunk consumed with no message
        // reported is part of a dropped one.
        if (!r.passthrough && r.consumed > 0) {
          fuzz::check(checker.last_size > 0 ? r.consumed == checker.last_size
                                            : checker.stream_large);
        }
        if (r.passthrough) fuzz::check(checker.stream_large && checker.last_size == 0);
      });
  return 0;
}
