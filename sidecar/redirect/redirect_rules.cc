// Redirect options parsing and rule generation.
#include "sidecar/redirect/redirect_rules.h"

#include <arpa/inet.h>

#include <cstdlib>

#include "common/flags.h"

namespace tollgate::sidecar::redirect {
namespace {

const std::vector<FlagSpec>& specs() {
  static const std::vector<FlagSpec> kSpecs = {
      {"proxy-port", true, false, "port of the sidecar's transparent listener (default 15001)"},
      {"proxy-uid", true, false, "uid the sidecar runs as; its connections are not redirected"},
      {"exclude-ports", true, true, "outbound ports never redirected (comma separated)"},
      {"exclude-cidrs", true, true, "destinations never redirected (comma separated CIDRs)"},
      {"include-ports", true, true, "when set, only these outbound ports are redirected"},
      {"include-cidrs", true, true, "when set, only these destinations are redirected"},
      {"ipv6", true, false, "auto|on|off: also install ip6tables rules (default auto)"},
      {"dry-run", false, false, "print the commands instead of running them"},
      {"iptables", true, false, "iptables binary (default iptables, e.g. iptables-legacy)"},
      {"ip6tables", true, false, "ip6tables binary (default ip6tables)"},
      {"help", false, false, "show this help"},
  };
  return kSpecs;
}

bool parseNumber(const std::string& text, long long max, long long* out) {
  if (text.empty() || text.size() > 10 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  long long v = std::atoll(text.c_str());
  if (v > max) return false;
  *out = v;
  return true;
}

// "80" -> "80", "1000-2000" / "1000:2000" -> "1000:2000"; "" on error.
std::string normalizePort(const std::string& text) {
  size_t sep = text.find_first_of("-:");
  long long low = 0;
  long long high = 0;
  if (sep == std::string::npos) {
    return parseNumber(text, 65535, &low) && low >= 1 ? text : "";
  }
  if (!parseNumber(text.substr(0, sep), 65535, &low) ||
      !parseNumber(text.substr(sep + 1), 65535, &high) || low < 1 || low > high) {
    return "";
  }
  return std::to_string(low) + ":" + std::to_string(high);
}

bool isIpv6(const std::string& cidr) { return cidr.find(':') != std::string::npos; }

bool validCidr(const std::string& text) {
  size_t slash = text.find('/');
  std::string addr = text.substr(0, slash);
  unsigned char buf[16];
  int af = isIpv6(addr) ? AF_INET6 : AF_INET;
  if (inet_pton(af, addr.c_str(), buf) != 1) return false;
  if (slash == std::string::npos) return true;
  long long prefix = 0;
  return parseNumber(text.substr(slash + 1), af == AF_INET6 ? 128 : 32, &prefix);
}

// True when every address of `cidr` is loopback (127.0.0.0/8, ::1).
bool insideLoopback(const std::string& cidr) {
  size_t slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  long long prefix = isIpv6(addr) ? 128 : 32;
  if (slash != std::string::npos) parseNumber(cidr.substr(slash + 1), 128, &prefix);
  unsigned char buf[16] = {};
  if (isIpv6(addr)) {
    if (inet_pton(AF_INET6, addr.c_str(), buf) != 1 || prefix != 128) return false;
    for (int i = 0; i < 15; ++i) {
      if (buf[i] != 0) return false;
    }
    return buf[15] == 1;
  }
  return inet_pton(AF_INET, addr.c_str(), buf) == 1 && buf[0] == 127 && prefix >= 8;
}

absl::Status readList(const Flags& flags, const char* name, bool ports,
                      std::vector<std::string>* out) {
  for (const std::string& value : flags.all(name)) {
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      std::string item = value.substr(start, comma - start);
      start = comma + 1;
      if (item.empty()) continue;
      std::string norm = ports ? normalizePort(item) : (validCidr(item) ? item : "");
      if (norm.empty()) {
        return absl::InvalidArgumentError(std::string("--") + name + ": \"" + item + "\" is not " +
                                          (ports ? "a port or range" : "a CIDR"));
      }
      out->push_back(norm);
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> redirectTo(const RedirectOptions& o, std::vector<std::string> match) {
  match.insert(match.end(), {"-j", "REDIRECT", "--to-ports", std::to_string(o.proxy_port)});
  return match;
}

// REDIRECT rules for `cidrs` (empty list = any destination) x include ports.
void addRedirects(const RedirectOptions& o, const std::vector<std::string>& cidrs,
                  std::vector<std::vector<std::string>>* rules) {
  std::vector<std::string> dests = cidrs.empty() ? std::vector<std::string>{""} : cidrs;
  std::vector<std::string> ports =
      o.include_ports.empty() ? std::vector<std::string>{""} : o.include_ports;
  for (const std::string& d : dests) {
    for (const std::string& p : ports) {
      std::vector<std::string> m = {"-p", "tcp"};
      if (!d.empty()) m.insert(m.end(), {"-d", d});
      if (!p.empty()) m.insert(m.end(), {"--dport", p});
      rules->push_back(redirectTo(o, m));
    }
  }
}

}  // namespace

std::string redirectUsage() {
  return "usage: tollgate-sidecar redirect --proxy-uid UID [flags]\n"
         "Installs the pod's nat rules: outbound TCP goes to the sidecar's transparent port.\n" +
         Flags::usage(specs());
}

absl::StatusOr<RedirectOptions> parseRedirectArgs(int argc, const char* const* argv) {
  auto flags = Flags::parse(argc, argv, 1, specs());
  if (!flags.ok()) return flags.status();
  if (flags->has("help")) return absl::CancelledError(redirectUsage());
  if (!flags->positional().empty()) {
    return absl::InvalidArgumentError("unexpected argument '" + flags->positional()[0] + "'");
  }
  RedirectOptions o;
  long long v = 0;
  if (auto p = flags->get("proxy-port")) {
    if (!parseNumber(*p, 65535, &v) || v < 1) {
      return absl::InvalidArgumentError("--proxy-port must be within 1..65535");
    }
    o.proxy_port = static_cast<int>(v);
  }
  auto uid = flags->get("proxy-uid");
  if (!uid) return absl::InvalidArgumentError("--proxy-uid is required");
  if (!parseNumber(*uid, 4294967294LL, &v)) {
    return absl::InvalidArgumentError("--proxy-uid must be a numeric uid");
  }
  o.proxy_uid = v;
  if (auto st = readList(*flags, "exclude-ports", true, &o.exclude_ports); !st.ok()) return st;
  if (auto st = readList(*flags, "exclude-cidrs", false, &o.exclude_cidrs); !st.ok()) return st;
  if (auto st = readList(*flags, "include-ports", true, &o.include_ports); !st.ok()) return st;
  if (auto st = readList(*flags, "include-cidrs", false, &o.include_cidrs); !st.ok()) return st;
  std::string ipv6 = flags->getOr("ipv6", "auto");
  if (ipv6 == "auto") {
    o.ipv6 = Ipv6Mode::kAuto;
  } else if (ipv6 == "on") {
    o.ipv6 = Ipv6Mode::kOn;
  } else if (ipv6 == "off") {
    o.ipv6 = Ipv6Mode::kOff;
  } else {
    return absl::InvalidArgumentError("--ipv6 must be auto, on or off");
  }
  o.dry_run = flags->has("dry-run");
  o.iptables = flags->getOr("iptables", o.iptables);
  o.ip6tables = flags->getOr("ip6tables", o.ip6tables);
  return o;
}

std::vector<std::vector<std::string>> chainRules(const RedirectOptions& o, Family family) {
  bool v6 = family == Family::kIpv6;
  std::vector<std::vector<std::string>> rules;
  rules.push_back({"-m", "owner", "--uid-owner", std::to_string(o.proxy_uid), "-j", "RETURN"});
  for (const std::string& p : o.exclude_ports) {
    rules.push_back({"-p", "tcp", "--dport", p, "-j", "RETURN"});
  }
  for (const std::string& c : o.exclude_cidrs) {
    if (isIpv6(c) == v6) rules.push_back({"-d", c, "-j", "RETURN"});
  }
  std::vector<std::string> loopback_includes;
  std::vector<std::string> other_includes;
  for (const std::string& c : o.include_cidrs) {
    if (isIpv6(c) != v6) continue;
    (insideLoopback(c) ? loopback_includes : other_includes).push_back(c);
  }
  if (!loopback_includes.empty()) addRedirects(o, loopback_includes, &rules);
  rules.push_back({"-d", v6 ? "::1/128" : "127.0.0.0/8", "-j", "RETURN"});
  if (o.include_cidrs.empty()) {
    addRedirects(o, {}, &rules);
  } else if (!other_includes.empty()) {
    addRedirects(o, other_includes, &rules);
  }
  return rules;
}

std::vector<std::string> jumpRule() { return {"-p", "tcp", "-j", kChain}; }

std::string saveLine(const std::string& chain, const std::vector<std::string>& args) {
  std::string out = "-A " + chain;
  for (const std::string& a : args) out += " " + a;
  return out;
}

}  // namespace tollgate::sidecar::redirect
