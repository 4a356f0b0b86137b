// One run of an online command: parsed flags, the client, and uniform error reporting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "common/flags.h"
#include "tools/tollgatectl/client.h"

namespace tollgate::ctl {

class Invocation {
 public:
  // Parses `args` (the words after the command name) against `specs` (built with
  // onlineFlags()) and connects. On --help prints `usage` and the flags to stdout and sets
  // *exit_code to 0; on a bad flag, a positional count outside [min_args, max_args] or an
  // endpoint that cannot be resolved prints the problem and `usage` to stderr and sets
  // *exit_code to 2. Returns nullopt in those cases. `command` is e.g. "policy apply".
  static std::optional<Invocation> start(const std::string& command,
                                         const std::vector<std::string>& args,
                                         const std::vector<FlagSpec>& specs,
                                         const std::string& usage, size_t min_args, size_t max_args,
                                         int* exit_code);

  const std::string& command() const { return command_; }
  const Flags& flags() const { return flags_; }
  const std::vector<std::string>& args() const { return flags_.positional(); }
  const Client& client() const { return client_; }
  bool json() const { return flags_.has("json"); }

  // A call context with token and deadline (see Client::context).
  std::unique_ptr<grpc::ClientContext> context(bool deadline = true) const {
    return client_.context(deadline);
  }
  // Reports a failed RPC; returns its exit code (see Client::fail).
  int fail(const grpc::Status& status) const { return client_.fail(command_, status); }
  // Prints "tollgatectl: <command>: <message>" and returns kExitUsage.
  int usageError(const std::string& message) const;
  // Prints "tollgatectl: <command>: <message>" and returns kExitServerError.
  int problem(const std::string& message) const;

 private:
  Invocation(std::string command, Flags flags, Client client)
      : command_(std::move(command)), flags_(std::move(flags)), client_(std::move(client)) {}

  std::string command_;
  Flags flags_;
  Client client_;
};

// The words after a command group's name split into its sub-command and the rest; prints the
// group usage and returns an exit code when there is no sub-command or it asks for help.
struct SubCommand {
  std::string name;
  std::vector<std::string> rest;
};
std::optional<SubCommand> subCommand(const std::vector<std::string>& args, const std::string& usage,
                                     int* exit_code);
// Prints "tollgatectl <group>: unknown command 'X'" and the usage; returns kExitUsage.
int unknownSubCommand(const std::string& group, const std::string& name, const std::string& usage);

// A whole decimal number (at most 18 digits); nullopt otherwise.
std::optional<uint64_t> parseNumber(const std::string& text);

// `message` in the protobuf JSON mapping on one line (field names lowerCamelCase, enums by
// name, 64-bit integers as strings, timestamps RFC 3339).
std::string toJson(const google::protobuf::Message& message);
// Prints toJson(message) and a newline to stdout.
void printJson(const google::protobuf::Message& message);

}  // namespace tollgate::ctl
