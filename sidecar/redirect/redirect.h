// Entry point of `tollgate-sidecar redirect`: installs the pod's nat rules (the init step).
#pragma once

namespace tollgate::sidecar::redirect {

// Runs the subcommand; argv[0] must be "redirect" (main passes argc - 1, argv + 1). Installs
// the TOLLGATE_OUTPUT chain in the nat table with iptables and, unless --ipv6 off (or auto and
// ip6tables / IPv6 nat is unavailable), ip6tables, by running the binaries (fork/exec, no
// shell), then prints the installed rules as `iptables -S` lines. Idempotent: the chain is
// created if missing and flushed, the OUTPUT jump inserted only when `-C` does not find it.
// --dry-run prints the commands instead of running them.
// Returns 0 on success, 2 on bad arguments, 1 when a command failed (its stderr is printed).
int runRedirect(int argc, char** argv);

}  // namespace tollgate::sidecar::redirect
