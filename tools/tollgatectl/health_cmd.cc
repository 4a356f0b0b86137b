// `tollgatectl health`: the standard gRPC health check against a control plane.
#include <chrono>
#include <cstdio>

#include "common/flags.h"
#include "tools/tollgatectl/client.h"
#include "tools/tollgatectl/commands.h"

namespace tollgate::ctl {

int runHealth(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"health"};
  for (const auto& a : args) argv.push_back(a.c_str());
  static const std::vector<FlagSpec> kSpecs = {
      {"server", true, false, "control plane HOST:PORT (default 127.0.0.1:15090)"},
      {"ca", true, false, "PEM CA to verify the control plane's TLS certificate"},
  };
  auto flags = Flags::parse(static_cast<int>(argv.size()), argv.data(), 1, kSpecs);
  if (!flags.ok()) {
    std::fprintf(stderr, "tollgatectl health: %s\n%s",
                 std::string(flags.status().message()).c_str(), Flags::usage(kSpecs).c_str());
    return 2;
  }
  // The health check needs no token; the same TLS rules as every online command apply.
  Endpoint ep;
  ep.server = flags->getOr("server", "127.0.0.1:15090");
  ep.ca_file = flags->getOr("ca", "");
  ep.timeout = std::chrono::seconds(5);
  auto client = Client::create(ep);
  if (!client.ok()) {
    std::fprintf(stderr, "tollgatectl: %s\n", std::string(client.status().message()).c_str());
    return 2;
  }
  int serving = 0;
  grpc::Status status = checkHealth(*client, &serving);
  if (!status.ok()) {
    std::fprintf(stderr, "tollgatectl: %s: %s\n", ep.server.c_str(),
                 status.error_message().c_str());
    return 1;
  }
  const char* names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  std::printf("%s: %s\n", ep.server.c_str(), names[serving >= 0 && serving < 4 ? serving : 0]);
  return serving == 1 ? 0 : 1;
}

}  // namespace tollgate::ctl
