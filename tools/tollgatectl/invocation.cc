// Shared start-up of online commands: flag parsing, endpoint resolution, error messages.
#include "tools/tollgatectl/invocation.h"

#include <cstdio>

#include <google/protobuf/util/json_util.h>

namespace tollgate::ctl {

std::optional<Invocation> Invocation::start(const std::string& command,
                                            const std::vector<std::string>& args,
                                            const std::vector<FlagSpec>& specs,
                                            const std::string& usage, size_t min_args,
                                            size_t max_args, int* exit_code) {
  std::vector<const char*> argv = {command.c_str()};
  for (const auto& a : args) argv.push_back(a.c_str());
  auto flags = Flags::parse(static_cast<int>(argv.size()), argv.data(), 1, specs);
  auto usageFail = [&](const std::string& message) {
    std::fprintf(stderr, "tollgatectl: %s: %s\n%s", command.c_str(), message.c_str(),
                 usage.c_str());
    *exit_code = kExitUsage;
    return std::nullopt;
  };
  if (!flags.ok()) return usageFail(std::string(flags.status().message()));
  if (flags->has("help")) {
    std::printf("%s%s", usage.c_str(), Flags::usage(specs).c_str());
    *exit_code = kExitOk;
    return std::nullopt;
  }
  size_t n = flags->positional().size();
  if (n < min_args || n > max_args) {
    return usageFail(n < min_args ? "missing argument"
                                  : "unexpected argument '" + flags->positional()[max_args] + "'");
  }
  auto endpoint = resolveEndpoint(*flags);
  if (!endpoint.ok()) return usageFail(std::string(endpoint.status().message()));
  auto client = Client::create(std::move(*endpoint));
  if (!client.ok()) return usageFail(std::string(client.status().message()));
  return Invocation(command, std::move(*flags), std::move(*client));
}

int Invocation::usageError(const std::string& message) const {
  std::fprintf(stderr, "tollgatectl: %s: %s\n", command_.c_str(), message.c_str());
  return kExitUsage;
}

int Invocation::problem(const std::string& message) const {
  std::fprintf(stderr, "tollgatectl: %s: %s\n", command_.c_str(), message.c_str());
  return kExitServerError;
}

std::optional<SubCommand> subCommand(const std::vector<std::string>& args, const std::string& usage,
                                     int* exit_code) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(usage.c_str(), args.empty() ? stderr : stdout);
    *exit_code = args.empty() ? kExitUsage : kExitOk;
    return std::nullopt;
  }
  return SubCommand{args[0], std::vector<std::string>(args.begin() + 1, args.end())};
}

int unknownSubCommand(const std::string& group, const std::string& name, const std::string& usage) {
  std::fprintf(stderr, "tollgatectl %s: unknown command '%s'\n%s", group.c_str(), name.c_str(),
               usage.c_str());
  return kExitUsage;
}

std::optional<uint64_t> parseNumber(const std::string& text) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(text);
}

std::string toJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  (void)google::protobuf::util::MessageToJsonString(message, &out, opts);
  return out;
}

void printJson(const google::protobuf::Message& message) {
  std::string line = toJson(message);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

}  // namespace tollgate::ctl
