// `tollgate-sidecar redirect`: its options and the nat rules they stand for (no side effects).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tollgate::sidecar::redirect {

inline constexpr const char* kChain = "TOLLGATE_OUTPUT";

enum class Ipv6Mode { kAuto, kOn, kOff };
enum class Family { kIpv4, kIpv6 };

struct RedirectOptions {
  int proxy_port = 15001;
  long long proxy_uid = -1;                // required
  std::vector<std::string> exclude_ports;  // "5432" or "8000:8080" (iptables range syntax)
  std::vector<std::string> exclude_cidrs;
  std::vector<std::string> include_ports;
  std::vector<std::string> include_cidrs;
  Ipv6Mode ipv6 = Ipv6Mode::kAuto;
  bool dry_run = false;
  std::string iptables = "iptables";
  std::string ip6tables = "ip6tables";
};

// Parses the subcommand's flags (argv[0] is "redirect"). Lists are comma separated and may be
// repeated; port ranges may be written "a-b" or "a:b" (stored as "a:b"); CIDRs are checked
// (an address without /prefix is a host). INVALID_ARGUMENT naming the flag on any error;
// CANCELLED with the usage text for --help.
absl::StatusOr<RedirectOptions> parseRedirectArgs(int argc, const char* const* argv);

// The usage text.
std::string redirectUsage();

// The rules of TOLLGATE_OUTPUT for one family, each as iptables arguments after
// "-A TOLLGATE_OUTPUT", in order:
//   1. -m owner --uid-owner UID -j RETURN          the sidecar's own connections
//   2. -p tcp --dport P -j RETURN                  each excluded port
//   3. -d CIDR -j RETURN                           each excluded CIDR of this family
//   4. REDIRECT rules for included CIDRs inside loopback (127.0.0.0/8, ::1): an explicitly
//      included loopback alias (a database on 127.0.0.5 in tests) beats rule 5
//   5. -d 127.0.0.0/8 (or ::1/128) -j RETURN       loopback
//   6. -p tcp [-d CIDR] [--dport P] -j REDIRECT --to-ports PROXY for the rest: everything when
//      no include lists are set; otherwise each included CIDR of this family x each included
//      port. Include CIDRs given only for the other family redirect nothing in this one.
std::vector<std::vector<std::string>> chainRules(const RedirectOptions& options, Family family);

// The jump from OUTPUT, as iptables arguments after "-I OUTPUT 1" / "-C OUTPUT".
std::vector<std::string> jumpRule();

// "-A TOLLGATE_OUTPUT -m owner ..." (iptables-save syntax) for printing.
std::string saveLine(const std::string& chain, const std::vector<std::string>& args);

}  // namespace tollgate::sidecar::redirect
