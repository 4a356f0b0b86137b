// tollgatectl: the command-line tool for security teams, approvers and auditors.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grpc/support/log.h>

#include "common/daemon.h"
#include "tools/tollgatectl/commands.h"

namespace {

constexpr char kUsage[] = R"(usage: tollgatectl COMMAND [ARGS]

Offline (no control plane needed):
  policy check FILE                   validate a policy file
  policy test --policy FILE --resource NAME [--role read|write|admin] [--subject SA] --sql TEXT
                                      show what the policy decides for each statement (JSON lines)
  mask --policy FILE [--resource NAME]
                                      mask card data in standard input, line by line

Against a control plane:
  login --server HOST:PORT [--ca FILE] [--cert F --key F] (--token T | --token-file F)
                                      check the server and token, save them (mode 0600)
  logout                              forget the saved login
  health [--server HOST:PORT]         standard gRPC health check (default 127.0.0.1:15090)
  policy apply FILE [--comment C] [--dry-run] [--expected-version N]
  policy get [--version N]            print the policy YAML
  policy history                      list versions
  policy rollback VERSION [--comment C]
  policy test --resource NAME [--role R] [--subject S] --sql TEXT
                                      dry run against the server's current policy
  grants request --subject S --resource R [--role R] [--duration 15m] --reason TEXT
  grants list [--subject S] [--resource R] [--all]
  grants revoke|approve|deny ID [--comment C]
  approvals list [--all] [--resource R]
  approvals approve|deny ID [--comment C]
  approvals watch [--resource R]      one line per approval change, until interrupted
  audit search [FILTERS] [--limit N] [--all-pages]
  audit export [FILTERS] [--output FILE]
                                      JSON lines, one event per line
  audit verify [--from N] [--to N]    check the hash chain and checkpoints (exit 1: problems)
  sessions list [--all] [--resource R]
  sessions show ID
  sessions kill ID [--reason TEXT]
  (each command's --help lists its flags and audit FILTERS)

Connection flags of every online command (flags win over env, env over the saved login):
  --server HOST:PORT (env TOLLGATE_SERVER)   --token T | --token-file F (env TOLLGATE_TOKEN)
  --ca FILE  --cert FILE --key FILE  --timeout D (per call, default 10s)
  --insecure   plaintext to a non-loopback server (without it: plaintext only on loopback
               with no --ca; TLS otherwise)
  The saved CA and token are used only with the saved server.
Output: aligned tables; --json prints the protobuf JSON mapping, one object per line (lists
give one line per item). Times are UTC.
Exit codes: 0 ok, 1 the server refused or reported a problem, 2 usage error,
            3 cannot connect or the token was not accepted.
Errors: "tollgatectl: COMMAND: CODE: message" on stderr.

Other:
  version                             print the version
  help                                show this help
)";

// gRPC's own log lines (e.g. a TLS handshake failure) repeat what the command's error message
// already says; they are shown only when GRPC_VERBOSITY asks for them.
void quietGrpcLogs(gpr_log_func_args* /*args*/) {}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(quietGrpcLogs);
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "policy") return tollgate::ctl::runPolicy(args);
  if (command == "mask") return tollgate::ctl::runMask(args);
  if (command == "health") return tollgate::ctl::runHealth(args);
  if (command == "login") return tollgate::ctl::runLogin(args);
  if (command == "logout") return tollgate::ctl::runLogout(args);
  if (command == "grants") return tollgate::ctl::runGrants(args);
  if (command == "approvals") return tollgate::ctl::runApprovals(args);
  if (command == "audit") return tollgate::ctl::runAudit(args);
  if (command == "sessions") return tollgate::ctl::runSessions(args);
  if (command == "version" || command == "--version") {
    std::printf("tollgatectl %s\n", std::string(tollgate::kVersion).c_str());
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "tollgatectl: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
