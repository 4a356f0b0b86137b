// The `options` startup parameter: split as PostgreSQL splits it, settings read from -c and
// --name=value, every other server switch refused.
#include "sidecar/postgres/startup_options.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace tollgate::sidecar::postgres;
using Catch::Matchers::ContainsSubstring;
using Settings = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("options split on whitespace; a backslash keeps the next character") {
  CHECK(splitStartupOptions("") == std::vector<std::string>{});
  CHECK(splitStartupOptions("  -c  a=b\t--x=y ") == std::vector<std::string>{"-c", "a=b", "--x=y"});
  CHECK(splitStartupOptions("-c search_path=a\\ b\\\\c") ==
        std::vector<std::string>{"-c", "search_path=a b\\c"});
  CHECK(splitStartupOptions("x\\") == std::vector<std::string>{"x\\"});
}

TEST_CASE("settings come from -c name=value, -cname=value and --name=value") {
  auto s = startupOptionSettings("-c statement_timeout=5s -cwork_mem=64MB --lock-timeout=2s");
  REQUIRE(s.ok());
  CHECK(*s == Settings{{"statement_timeout", "5s"}, {"work_mem", "64MB"}, {"lock_timeout", "2s"}});
  s = startupOptionSettings("-c search_path=a\\ b -c x=");
  REQUIRE(s.ok());
  CHECK(*s == Settings{{"search_path", "a b"}, {"x", ""}});
  CHECK(startupOptionSettings("   ")->empty());
}

TEST_CASE("other server switches and settings without a value are refused") {
  for (const char* bad : {"-B 100", "-F", "-d 5", "-e", "-c", "-c name", "--name", "-c =v", "x"}) {
    INFO(bad);
    auto s = startupOptionSettings(bad);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK_THAT(std::string(startupOptionSettings("-B 100").status().message()),
             ContainsSubstring("\"-B\""));
}
