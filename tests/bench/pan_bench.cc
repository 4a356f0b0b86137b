// Throughput of the PAN scanner on prose, digit-dense CSV and card-heavy logs, and the cost of
// Masker::maskValue on a PAN and on an ordinary value.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "policy/detect/pan.h"
#include "policy/mask/masker.h"
#include "tests/policy/pan_testing.h"

namespace {

using tollgate::policy::PanMatch;

constexpr size_t kTarget = 4u << 20;  // ~4 MiB per input

struct Rng {
  uint64_t x = 0x2545F4914F6CDD1DULL;
  uint64_t next() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

// English-like prose: words, punctuation, a number every ~40 words.
const std::string& proseInput() {
  static const std::string kText = [] {
    static const char* kWords[] = {"the",      "payment",  "was",    "accepted", "by",    "our",
                                   "service",  "and",      "a",      "receipt",  "sent",  "to",
                                   "customer", "after",    "review", "of",       "their", "account",
                                   "history",  "in",       "full",   "with",     "no",    "further",
                                   "action",   "required", "today"};
    Rng rng;
    std::string s;
    s.reserve(kTarget + 64);
    while (s.size() < kTarget) {
      if (rng.below(40) == 0) {
        s += std::to_string(rng.below(3000));
      } else {
        s += kWords[rng.below(sizeof(kWords) / sizeof(kWords[0]))];
      }
      s += rng.below(12) == 0 ? ". " : " ";
      if (rng.below(30) == 0) s += "\n";
    }
    return s;
  }();
  return kText;
}

// Digit-dense CSV: id, ms timestamp, amount, phone, order id, quantity.
const std::string& csvInput() {
  static const std::string kText = [] {
    Rng rng;
    std::string s;
    s.reserve(kTarget + 128);
    uint64_t id = 100000;
    while (s.size() < kTarget) {
      s += std::to_string(id++);
      s += ',';
      s += std::to_string(1700000000000ULL + rng.below(100000000000ULL));
      s += ',';
      s += std::to_string(rng.below(100000)) + "." + std::to_string(10 + rng.below(90));
      s += ",+1-555-" + std::to_string(100 + rng.below(900)) + "-" +
           std::to_string(1000 + rng.below(9000));
      s += ",ORD-" + std::to_string(10000000 + rng.below(90000000));
      s += ',' + std::to_string(rng.below(50)) + "\n";
    }
    return s;
  }();
  return kText;
}

// Log lines that each carry one card number, in varied brands and formats.
const std::string& cardsInput() {
  static const std::string kText = [] {
    static const char* kPrefixes[] = {"4", "51", "37", "6011", "3528", "36", "620", "56"};
    static const size_t kLengths[] = {16, 16, 15, 16, 16, 14, 19, 13};
    Rng rng;
    std::string s;
    s.reserve(kTarget + 128);
    uint64_t seed = 0;
    while (s.size() < kTarget) {
      const size_t b = rng.below(8);
      const std::string pan = tollgate::testing::makePan(kPrefixes[b], kLengths[b], seed++);
      const char seps[] = {'\0', ' ', '-'};
      s += "2024-11-25T10:30:00Z payment ok card=";
      s += tollgate::testing::formatPan(pan, seps[rng.below(3)]);
      s += " amount=" + std::to_string(rng.below(1000)) + ".99 user=u" +
           std::to_string(rng.below(100000)) + "\n";
    }
    return s;
  }();
  return kText;
}

void runFind(benchmark::State& state, const std::string& input) {
  std::vector<PanMatch> out;
  out.reserve(1 << 16);
  size_t found = 0;
  for (auto _ : state) {
    out.clear();
    found = tollgate::policy::findPans(input, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(input.size()));
  state.counters["matches"] = static_cast<double>(found);
}

void BM_FindPans_Prose(benchmark::State& state) { runFind(state, proseInput()); }
void BM_FindPans_Csv(benchmark::State& state) { runFind(state, csvInput()); }
void BM_FindPans_Cards(benchmark::State& state) { runFind(state, cardsInput()); }
void BM_ContainsPan_Prose(benchmark::State& state) {
  const std::string& input = proseInput();
  for (auto _ : state) benchmark::DoNotOptimize(tollgate::policy::containsPan(input));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(input.size()));
}
BENCHMARK(BM_FindPans_Prose);
BENCHMARK(BM_FindPans_Csv);
BENCHMARK(BM_FindPans_Cards);
BENCHMARK(BM_ContainsPan_Prose);

const tollgate::policy::Masker& designMasker() {
  static const tollgate::policy::MaskerPtr kMasker = [] {
    tollgate::policy::MaskAction pci;
    tollgate::policy::MaskAction redact;
    redact.kind = tollgate::policy::MaskAction::Kind::kRedact;
    auto m = tollgate::policy::Masker::compile(
        {{"pan", "pan", {}, pci}, {"cvv", "", {"cvv", "cvc*"}, redact}}, {});
    return *m;
  }();
  return *kMasker;
}

void runMask(benchmark::State& state, const std::string& value) {
  const auto& m = designMasker();
  const auto plan = m.planColumn("card_note");
  for (auto _ : state) {
    auto out = m.maskValue(plan, value);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(value.size()));
}
void BM_MaskValue_Pan16(benchmark::State& state) { runMask(state, "4111111111111111"); }
void BM_MaskValue_NonPan(benchmark::State& state) { runMask(state, "Order shipped to 221B"); }
BENCHMARK(BM_MaskValue_Pan16);
BENCHMARK(BM_MaskValue_NonPan);

}  // namespace

BENCHMARK_MAIN();
