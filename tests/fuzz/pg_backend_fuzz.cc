// Fuzz target: server bytes through the PostgreSQL backend decoder in random-sized reads,
// rewriting DataRows and RowDescriptions on the way as the masker would.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/postgres/backend_decoder.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/row_rewriter.h"
#include "tests/fuzz/pg_fuzz_driver.h"

namespace tollgate::sidecar::postgres {
namespace {

using fuzz::check;

class Checker : public BackendDecoderCallbacks {
 public:
  CallbackAction onMessage(const BackendMessage& m) override {
    check(m.raw.data() == input.data() && m.raw.size() <= input.size());
    if (m.type != 0) {
      check(m.raw.size() >= kHeaderSize && m.raw[0] == m.type);
      check(loadU32(m.raw.data() + 1) + 1 == m.raw.size());
    } else {
      check(m.raw.size() == 1);
    }
    last_size = m.raw.size();
    if (const auto* row = std::get_if<DataRow>(&m.body)) rewriteRow(*row);
    if (std::holds_alternative<RowDescription>(m.body)) rewriteDescription(m);
    if (m.type == 'E' || m.type == 'N') check(parseErrorMessage(m.raw).ok());
    if (const auto* a = std::get_if<Authentication>(&m.body)) {
      a->mechanisms.forEach([&](std::string_view s) { sum += s.size(); });
    }
    ++count;
    return (count % 5 == 2 && stop_sometimes) ? CallbackAction::kStop : CallbackAction::kContinue;
  }
  bool onLargeMessage(char, uint32_t) override { return stream_large; }

  // Masks every other column and checks the result re-parses to the same shape.
  void rewriteRow(const DataRow& row) {
    std::vector<ColumnReplacement> repl;
    std::vector<ValueList::Value> before;
    for (ValueList::Value v : row.columns) {
      before.push_back(v);
      repl.push_back(repl.size() % 2 == 0 ? ColumnReplacement("****") : std::nullopt);
    }
    std::string out;
    check(appendRewrittenDataRow(row, repl, &out).ok());
    check(out.size() == rewrittenDataRowSize(row, repl));
    absl::StatusOr<BackendBody> again = parseBackendBody('D', std::string_view(out).substr(5));
    check(again.ok());
    size_t i = 0;
    for (ValueList::Value v : std::get<DataRow>(*again).columns) {
      check(v.has_value() == before[i].has_value());
      if (v) check(*v == (i % 2 == 0 ? std::string_view("****") : *before[i]));
      ++i;
    }
    check(i == before.size());
  }

  void rewriteDescription(const BackendMessage& m) {
    const auto& desc = std::get<RowDescription>(m.body);
    std::vector<uint16_t> cols;
    for (uint16_t i = 0; i < desc.count; i += 2) cols.push_back(i);
    absl::StatusOr<std::string> out = rowDescriptionWithTextColumns(m.raw, cols);
    check(out.ok() && out->size() == m.raw.size());
  }

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
  BackendDecoderPtr decoder = createBackendDecoder(checker, config);
  if (in.options & 16) decoder->expectEncryptionResponse();
  fuzz::feedInChunks(
      in,
      [&](std::string_view input) {
        checker.input = input;
        checker.last_size = 0;
        return decoder->decode(input);
      },
      [&](const DecodeResult& r, std::string_view) {
        if (r.status == DecodeStatus::kError) {
          fuzz::check(decoder->failed() && !decoder->error().ok());
        }
        if (!r.passthrough && r.consumed > 0) fuzz::check(r.consumed == checker.last_size);
        if (r.passthrough) fuzz::check(checker.stream_large && checker.last_size == 0);
      });
  return 0;
}
