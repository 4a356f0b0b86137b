// Runs iptables / ip6tables (fork + execvp, no shell) to install the redirect chain.
#include "sidecar/redirect/redirect.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "sidecar/redirect/redirect_rules.h"

namespace tollgate::sidecar::redirect {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with stdin from /dev/null, capturing stdout and stderr.
CommandResult runCommand(const std::vector<std::string>& args) {
  CommandResult r;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.err = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.err = std::string("pipe: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return r;
  }
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execvp(argv[0], argv.data());
    std::string msg = "exec " + args[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    r.err = std::string("fork: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return r;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) out += (out.empty() ? "" : " ") + a;
  return out;
}

// Runs (or, dry, prints) one `<binary> -w -t nat ...` command.
class Nat {
 public:
  Nat(std::string binary, bool dry) : binary_(std::move(binary)), dry_(dry) {}

  CommandResult run(std::vector<std::string> args, bool quiet_dry = false) {
    args.insert(args.begin(), {binary_, "-w", "-t", "nat"});
    if (dry_) {
      if (!quiet_dry) std::printf("+ %s\n", joined(args).c_str());
      CommandResult r;
      r.exit_code = 0;
      return r;
    }
    return runCommand(args);
  }
  // Runs and reports failure on stderr; true on success.
  bool must(std::vector<std::string> args) {
    std::string line = joined(args);
    CommandResult r = run(std::move(args));
    if (r.exit_code == 0) return true;
    std::fprintf(stderr, "tollgate-sidecar redirect: %s -t nat %s failed (exit %d): %s\n",
                 binary_.c_str(), line.c_str(), r.exit_code, r.err.c_str());
    return false;
  }
  const std::string& binary() const { return binary_; }
  bool dry() const { return dry_; }

 private:
  std::string binary_;
  bool dry_;
};

bool install(Nat& nat, const RedirectOptions& options, Family family) {
  // Create the chain, or find it from an earlier run; then start it over.
  if (nat.run({"-N", kChain}).exit_code != 0 && nat.run({"-S", kChain}).exit_code != 0) {
    return nat.must({"-N", kChain});  // reports the real error
  }
  if (!nat.must({"-F", kChain})) return false;
  for (std::vector<std::string> rule : chainRules(options, family)) {
    rule.insert(rule.begin(), {"-A", kChain});
    if (!nat.must(std::move(rule))) return false;
  }
  std::vector<std::string> check = {"-C", "OUTPUT"};
  std::vector<std::string> jump = jumpRule();
  check.insert(check.end(), jump.begin(), jump.end());
  if (nat.dry() || nat.run(check).exit_code != 0) {
    std::vector<std::string> insert = {"-I", "OUTPUT", "1"};
    insert.insert(insert.end(), jump.begin(), jump.end());
    if (!nat.must(std::move(insert))) return false;
  }
  if (nat.dry()) return true;
  // Print what is installed now, read back from the kernel.
  std::printf("# %s -t nat\n", nat.binary().c_str());
  CommandResult output = nat.run({"-S", "OUTPUT"});
  size_t pos = 0;
  while (pos < output.out.size()) {
    size_t end = output.out.find('\n', pos);
    if (end == std::string::npos) end = output.out.size();
    std::string line = output.out.substr(pos, end - pos);
    if (line.find(kChain) != std::string::npos && line.rfind("-A OUTPUT", 0) == 0) {
      std::printf("%s\n", line.c_str());
    }
    pos = end + 1;
  }
  std::printf("%s", nat.run({"-S", kChain}).out.c_str());
  return true;
}

// An IPv6 address of global scope (ULA included) on any interface of this network namespace
// (/proc/net/if_inet6: address, ifindex, prefix length, scope, flags, name; scope 00 is
// global): the pod can reach IPv6 destinations, so they must be redirected too.
bool hasGlobalIpv6() {
  std::ifstream in("/proc/net/if_inet6");
  std::string address, ifindex, prefix, scope, flags, name;
  while (in >> address >> ifindex >> prefix >> scope >> flags >> name) {
    if (scope == "00") return true;
  }
  return false;
}

}  // namespace

int runRedirect(int argc, char** argv) {
  auto options = parseRedirectArgs(argc, argv);
  if (!options.ok()) {
    if (absl::IsCancelled(options.status())) {
      std::printf("%s", std::string(options.status().message()).c_str());
      return 0;
    }
    std::fprintf(stderr, "tollgate-sidecar redirect: %s\n%s",
                 std::string(options.status().message()).c_str(), redirectUsage().c_str());
    return 2;
  }
  Nat v4(options->iptables, options->dry_run);
  if (!install(v4, *options, Family::kIpv4)) return 1;
  if (options->ipv6 == Ipv6Mode::kOff) return 0;
  Nat v6(options->ip6tables, options->dry_run);
  if (options->ipv6 == Ipv6Mode::kAuto && !options->dry_run) {
    CommandResult probe = v6.run({"-S", "OUTPUT"});
    if (probe.exit_code != 0) {
      const char* why = probe.err.empty() ? "no output" : probe.err.c_str();
      if (hasGlobalIpv6()) {
        // Fail closed: with IPv4 rules only, the job would reach IPv6 databases directly.
        std::fprintf(stderr,
                     "tollgate-sidecar redirect: IPv6 nat unavailable (%s) but the pod has IPv6 "
                     "addresses: refusing to leave IPv6 unredirected (use --ipv6 off only where "
                     "no resource is reachable over IPv6)\n",
                     why);
        return 1;
      }
      std::fprintf(stderr,
                   "tollgate-sidecar redirect: IPv6 nat unavailable (%s) and no IPv6 address: "
                   "IPv4 rules only\n",
                   why);
      return 0;
    }
  }
  std::fflush(stdout);
  return install(v6, *options, Family::kIpv6) ? 0 : 1;
}

}  // namespace tollgate::sidecar::redirect
