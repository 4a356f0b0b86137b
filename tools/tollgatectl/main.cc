// tollgatectl: the command-line tool for security teams, approvers and auditors.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

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
  health [--server HOST:PORT]         standard gRPC health check (default 127.0.0.1:15090)

Other:
  version                             print the version
  help                                show this help
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "policy") return tollgate::ctl::runPolicy(args);
  if (command == "mask") return tollgate::ctl::runMask(args);
  if (command == "health") return tollgate::ctl::runHealth(args);
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
