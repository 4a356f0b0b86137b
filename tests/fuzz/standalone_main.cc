// Replays a fuzz corpus and deterministic mutations of it through LLVMFuzzerTestOneInput, so
// every build checks the fuzz targets without libFuzzer. Usage: NAME [--iterations N] DIR...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// One random edit: flip, insert, delete, duplicate a span, or splice with another input.
std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:
        s.insert(s.begin() + static_cast<long>(pick(s.size() + 1)), static_cast<char>(rng()));
        break;
      case 2:
        if (!s.empty()) s.erase(pick(s.size()), 1 + pick(8));
        break;
      case 3:
        if (!s.empty()) {
          size_t a = pick(s.size());
          s.insert(pick(s.size()), s.substr(a, 1 + pick(16)));
        }
        break;
      case 4:
        if (!corpus.empty()) {
          const std::string& o = corpus[pick(corpus.size())];
          s = s.substr(0, pick(s.size() + 1)) + o.substr(pick(o.size() + 1));
        }
        break;
      default: {
        static const char* kInteresting[] = {"\xff\xff\xff\xff",
                                             "\x00\x00\x00\x00",
                                             "\x7f",
                                             "4111111111111111",
                                             "'",
                                             "$$",
                                             "\n",
                                             ":"};
        const char* t = kInteresting[rng() % 8];
        s.insert(pick(s.size() + 1), std::string(t, std::strlen(t) ? std::strlen(t) : 4));
      }
    }
  }
  if (s.size() > 1 << 16) s.resize(1 << 16);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 0;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
      continue;
    }
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(p)) {
        if (entry.is_regular_file()) corpus.push_back(readFile(entry.path()));
      }
    } else if (std::filesystem::exists(p)) {
      corpus.push_back(readFile(p));
    } else {
      std::fprintf(stderr, "no such corpus: %s\n", argv[i]);
      return 2;
    }
  }
  if (corpus.empty()) corpus.emplace_back();
  for (const auto& c : corpus) run(c);
  std::mt19937_64 rng(0x7011ea7e);
  for (long i = 0; i < iterations; ++i) {
    run(mutate(corpus[rng() % corpus.size()], corpus, rng));
  }
  std::printf("fuzz replay: %zu corpus inputs, %ld mutations, no crash\n", corpus.size(),
              iterations);
  return 0;
}
