// Helpers for tests that drive real processes: temp dirs, free ports, child processes, HTTP GET.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tollgate::testing {

// Path of a built binary (build/bin/NAME) and of a file in the source tree.
std::string binPath(const std::string& name);
std::string sourcePath(const std::string& relative);

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int freePort();
// A socket listening on 127.0.0.1 at a port of the kernel's choice (set in *port), or -1.
int listenLoopback(int* port, int backlog = 16);
// A socket connected to 127.0.0.1:port, or -1 (nothing listening).
int connectLoopback(int port);

// Result of running a command to completion.
struct RunResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};
// Runs argv (no shell) with `input` on stdin and a timeout; kills it on timeout.
RunResult run(const std::vector<std::string>& argv, const std::string& input = "",
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A long-running child process whose stderr goes to a file. Killed (SIGKILL) on destruction
// if still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path,
          const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` and waits up to `timeout` for exit; returns the exit code (-signal), or
  // nullopt on timeout.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

struct HttpResult {
  int status = 0;  // 0 when the connection failed
  std::string body;
};
// GET http://127.0.0.1:port/path with a short timeout.
HttpResult httpGet(int port, const std::string& path);
// Polls /healthz until 200 or timeout.
bool waitHealthy(int port, std::chrono::milliseconds timeout = std::chrono::seconds(15));
// Polls until something accepts TCP connections on 127.0.0.1:port.
bool waitPort(int port, std::chrono::milliseconds timeout = std::chrono::seconds(15));

// Polls `fn` every `poll` until it returns true (true) or `timeout` passes (false).
template <typename Fn>
bool eventually(Fn fn, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(50)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    if (fn()) return true;
    std::this_thread::sleep_for(poll);
  } while (std::chrono::steady_clock::now() < deadline);
  return fn();
}

}  // namespace tollgate::testing
