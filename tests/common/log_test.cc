// Logging: JSON escaping and the scrubber hook that keeps card numbers out of log lines.
#include "common/log.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace tollgate;
using Catch::Matchers::ContainsSubstring;

namespace {
// Captures what log::write sends to stderr.
std::string capture(const std::function<void()>& fn) {
  std::fflush(stderr);
  char path[] = "/tmp/tollgate-log-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(path);
  return ss.str();
}
}  // namespace

TEST_CASE("JSON lines are valid and escaped") {
  log::setFormat(log::Format::kJson);
  std::string out = capture([] { log::info("quote \" and\nnewline", {{"k", "v\t\x01"}}); });
  CHECK_THAT(out, ContainsSubstring(R"("msg":"quote \" and\nnewline","k":"v\t\u0001"})"));
  log::setFormat(log::Format::kText);
}

// Red-team round 7: a client's startup parameters with invalid UTF-8 made events-file lines
// that JSON readers reject.
TEST_CASE("JSON strings replace bytes that are not well-formed UTF-8 with U+FFFD") {
  struct Case {
    std::string in;
    std::string out;
  };
  for (const Case& c : std::vector<Case>{
           {"u\xff\xfe", R"("u\ufffd\ufffd")"},
           {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb3",
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb3\""},
           {"\xc3", R"("\ufffd")"},                                // truncated
           {"\xc0\xaf", R"("\ufffd\ufffd")"},                      // overlong
           {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},            // surrogate
           {"\x80x", R"("\ufffdx")"},                              // stray continuation byte
           {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // above U+10FFFF
       }) {
    std::string out;
    log::appendJsonString(out, c.in);
    CHECK(out == c.out);
  }
}

// appendJsonString skips eight plain bytes at a time: every byte that needs escaping, at every
// offset of a long string, is still seen.
TEST_CASE("JSON strings escape a special byte at any position of a long string") {
  const std::string plain = "SELECT abalance FROM pgbench_accounts WHERE aid = $1 ~{}";
  struct Special {
    std::string in;
    std::string out;
  };
  for (const Special& sp : std::vector<Special>{{"\"", R"(\")"},
                                                {"\\", R"(\\)"},
                                                {"\n", R"(\n)"},
                                                {std::string(1, '\x1f'), R"(\u001f)"},
                                                {std::string(1, '\0'), R"(\u0000)"},
                                                {"\x7f", "\x7f"},  // DEL is plain
                                                {"\xc3\xa9", "\xc3\xa9"},
                                                {"\xff", R"(\ufffd)"}}) {
    for (size_t at = 0; at <= plain.size(); ++at) {
      std::string out;
      log::appendJsonString(out, plain.substr(0, at) + sp.in + plain.substr(at));
      INFO("at " << at);
      CHECK(out == "\"" + plain.substr(0, at) + sp.out + plain.substr(at) + "\"");
    }
  }
  std::string out;
  log::appendJsonString(out, plain);
  CHECK(out == "\"" + plain + "\"");
}

TEST_CASE("the scrubber sees every message and field") {
  log::setScrubber([](std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
      if (c >= '0' && c <= '9') c = '#';
    }
    return out;
  });
  std::string out = capture([] { log::warn("card 4111", {{"value", "5555"}}); });
  log::setScrubber(nullptr);
  CHECK_THAT(out, ContainsSubstring("card ####"));
  CHECK_THAT(out, ContainsSubstring("value=####"));
  CHECK_FALSE(out.find("4111") != std::string::npos);
}

TEST_CASE("levels filter") {
  log::setLevel(log::Level::kWarn);
  std::string out = capture([] {
    log::info("hidden");
    log::error("shown");
  });
  log::setLevel(log::Level::kInfo);
  CHECK(out.find("hidden") == std::string::npos);
  CHECK_THAT(out, ContainsSubstring("ERROR shown"));
}
