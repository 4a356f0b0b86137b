// Flag parsing: forms, repetition, unknown flags, positional arguments.
#include "common/flags.h"

#include <catch2/catch_test_macros.hpp>

#include "common/daemon.h"

using namespace tollgate;

namespace {
const std::vector<FlagSpec> kSpecs = {
    {"name", true, false, ""}, {"item", true, true, ""}, {"verbose", false, false, ""}};
}

TEST_CASE("flags in both forms, repeatable and boolean") {
  const char* argv[] = {"prog", "--name",    "a",   "--item=x", "--item",
                        "y",    "--verbose", "pos", "--",       "--not-a-flag"};
  auto f = Flags::parse(10, argv, 1, kSpecs);
  REQUIRE(f.ok());
  CHECK(f->get("name") == "a");
  CHECK(f->all("item") == std::vector<std::string>{"x", "y"});
  CHECK(f->get("verbose") == "true");
  CHECK(f->positional() == std::vector<std::string>{"pos", "--not-a-flag"});
}

TEST_CASE("flag errors name the flag") {
  const char* unknown[] = {"prog", "--nope"};
  CHECK(Flags::parse(2, unknown, 1, kSpecs).status().message() == "unknown flag '--nope'");
  const char* missing[] = {"prog", "--name"};
  CHECK(Flags::parse(2, missing, 1, kSpecs).status().message() == "flag '--name' needs a value");
  const char* twice[] = {"prog", "--name", "a", "--name", "b"};
  CHECK(Flags::parse(5, twice, 1, kSpecs).status().message() == "flag '--name' given twice");
}

TEST_CASE("host:port splitting") {
  std::string host;
  int port = 0;
  CHECK(splitHostPort("127.0.0.1:6432", &host, &port));
  CHECK(host == "127.0.0.1");
  CHECK(port == 6432);
  CHECK(splitHostPort("[::1]:5432", &host, &port));
  CHECK(host == "::1");
  CHECK_FALSE(splitHostPort("6432", &host, &port));
  CHECK_FALSE(splitHostPort("h:70000", &host, &port));
  CHECK_FALSE(splitHostPort("h:", &host, &port));
  CHECK_FALSE(splitHostPort("[::1]5432", &host, &port));
  CHECK(parseInt("42", 0, 100) == 42);
  CHECK_FALSE(parseInt("4x", 0, 100));
  CHECK_FALSE(parseInt("", 0, 100));
}

// Review: a text prefix test took "127.example.com" for loopback, so tollgatectl would have sent
// a bearer token to it in plaintext and the control plane would have served plaintext gRPC.
TEST_CASE("loopback is a loopback IP address or localhost, never a name that starts with 127.") {
  CHECK(isLoopbackHost("127.0.0.1"));
  CHECK(isLoopbackHost("127.255.255.254"));
  CHECK(isLoopbackHost("::1"));
  CHECK(isLoopbackHost("[::1]"));
  CHECK(isLoopbackHost("0:0:0:0:0:0:0:1"));
  CHECK(isLoopbackHost("localhost"));
  CHECK_FALSE(isLoopbackHost("127.example.com"));
  CHECK_FALSE(isLoopbackHost("127.0.0.1.example.com"));
  CHECK_FALSE(isLoopbackHost("127."));
  CHECK_FALSE(isLoopbackHost("127.0.0.1 "));
  CHECK_FALSE(isLoopbackHost("localhost.example.com"));
  CHECK_FALSE(isLoopbackHost("::2"));
  CHECK_FALSE(isLoopbackHost("::ffff:10.0.0.1"));
  CHECK_FALSE(isLoopbackHost("128.0.0.1"));
  CHECK_FALSE(isLoopbackHost("0.0.0.0"));
  CHECK_FALSE(isLoopbackHost(""));
}
