// `tollgate-sidecar redirect` options and the nat rules they produce (no iptables needed).
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "sidecar/redirect/redirect_rules.h"

using namespace tollgate::sidecar::redirect;

namespace {

absl::StatusOr<RedirectOptions> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "redirect");
  return parseRedirectArgs(static_cast<int>(args.size()), args.data());
}

std::vector<std::string> lines(const RedirectOptions& o, Family f) {
  std::vector<std::string> out;
  for (const auto& rule : chainRules(o, f)) out.push_back(saveLine(kChain, rule));
  return out;
}

}  // namespace

TEST_CASE("default rules: own uid, loopback, then everything to the proxy port") {
  auto o = parse({"--proxy-uid", "15337"});
  REQUIRE(o.ok());
  CHECK(o->proxy_port == 15001);
  CHECK(o->ipv6 == Ipv6Mode::kAuto);
  CHECK(lines(*o, Family::kIpv4) == std::vector<std::string>{
                                        "-A TOLLGATE_OUTPUT -m owner --uid-owner 15337 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -d 127.0.0.0/8 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -p tcp -j REDIRECT --to-ports 15001",
                                    });
  CHECK(lines(*o, Family::kIpv6)[1] == "-A TOLLGATE_OUTPUT -d ::1/128 -j RETURN");
  CHECK(saveLine("OUTPUT", jumpRule()) == "-A OUTPUT -p tcp -j TOLLGATE_OUTPUT");
}

TEST_CASE("exclusions come before the redirect and go to their own family") {
  auto o =
      parse({"--proxy-uid", "1000", "--proxy-port", "16001", "--exclude-ports", "15020,8000-8080",
             "--exclude-cidrs", "10.0.0.0/8", "--exclude-cidrs", "fd00::/8"});
  REQUIRE(o.ok());
  CHECK(lines(*o, Family::kIpv4) == std::vector<std::string>{
                                        "-A TOLLGATE_OUTPUT -m owner --uid-owner 1000 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -p tcp --dport 15020 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -p tcp --dport 8000:8080 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -d 10.0.0.0/8 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -d 127.0.0.0/8 -j RETURN",
                                        "-A TOLLGATE_OUTPUT -p tcp -j REDIRECT --to-ports 16001",
                                    });
  std::vector<std::string> v6 = lines(*o, Family::kIpv6);
  CHECK(v6[3] == "-A TOLLGATE_OUTPUT -d fd00::/8 -j RETURN");
  CHECK(v6.size() == 6);
}

TEST_CASE("include lists narrow the redirect; a loopback alias beats the loopback return") {
  auto o = parse({"--proxy-uid", "15337", "--include-cidrs", "127.0.0.5,10.1.0.0/16",
                  "--include-ports", "5432,3306"});
  REQUIRE(o.ok());
  CHECK(lines(*o, Family::kIpv4) ==
        std::vector<std::string>{
            "-A TOLLGATE_OUTPUT -m owner --uid-owner 15337 -j RETURN",
            "-A TOLLGATE_OUTPUT -p tcp -d 127.0.0.5 --dport 5432 -j REDIRECT --to-ports 15001",
            "-A TOLLGATE_OUTPUT -p tcp -d 127.0.0.5 --dport 3306 -j REDIRECT --to-ports 15001",
            "-A TOLLGATE_OUTPUT -d 127.0.0.0/8 -j RETURN",
            "-A TOLLGATE_OUTPUT -p tcp -d 10.1.0.0/16 --dport 5432 -j REDIRECT --to-ports 15001",
            "-A TOLLGATE_OUTPUT -p tcp -d 10.1.0.0/16 --dport 3306 -j REDIRECT --to-ports 15001",
        });
  // IPv4-only includes redirect nothing over IPv6 (not "everything").
  std::vector<std::string> v6 = lines(*o, Family::kIpv6);
  CHECK(v6 == std::vector<std::string>{"-A TOLLGATE_OUTPUT -m owner --uid-owner 15337 -j RETURN",
                                       "-A TOLLGATE_OUTPUT -d ::1/128 -j RETURN"});
  // Ports only: every destination, those ports.
  auto p = parse({"--proxy-uid", "1", "--include-ports", "5432"});
  REQUIRE(p.ok());
  CHECK(lines(*p, Family::kIpv6).back() ==
        "-A TOLLGATE_OUTPUT -p tcp --dport 5432 -j REDIRECT --to-ports 15001");
}

TEST_CASE("bad redirect arguments are refused, naming the flag") {
  struct Case {
    std::vector<const char*> args;
    const char* message_part;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "--proxy-uid is required"},
           {{"--proxy-uid", "root"}, "--proxy-uid"},
           {{"--proxy-uid", "1", "--proxy-port", "0"}, "--proxy-port"},
           {{"--proxy-uid", "1", "--proxy-port", "70000"}, "--proxy-port"},
           {{"--proxy-uid", "1", "--exclude-ports", "80,x"}, "--exclude-ports"},
           {{"--proxy-uid", "1", "--include-ports", "90-80"}, "--include-ports"},
           {{"--proxy-uid", "1", "--exclude-cidrs", "10.0.0.0/33"}, "--exclude-cidrs"},
           {{"--proxy-uid", "1", "--include-cidrs", "fd00::/129"}, "--include-cidrs"},
           {{"--proxy-uid", "1", "--include-cidrs", "10.0.0.0/8;reboot"}, "--include-cidrs"},
           {{"--proxy-uid", "1", "--ipv6", "maybe"}, "--ipv6"},
           {{"--proxy-uid", "1", "extra"}, "unexpected argument"},
           {{"--proxy-uid", "1", "--bogus"}, "bogus"},
       }) {
    auto o = parse(c.args);
    REQUIRE_FALSE(o.ok());
    INFO(o.status().message());
    CHECK(std::string(o.status().message()).find(c.message_part) != std::string::npos);
  }
  auto help = parse({"--help"});
  CHECK(absl::IsCancelled(help.status()));
}
