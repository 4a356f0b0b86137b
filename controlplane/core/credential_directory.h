// Brokered upstream credentials read from a directory of secret files (as Kubernetes mounts them).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/core/auditor.h"
#include "controlplane/core/subscribers.h"
#include "policy/compiled_policy.h"
#include "tollgate/v1/stream.pb.h"

namespace tollgate::controlplane::core {

// Parses a secret file's content: "username:password" on the first line, or a YAML mapping
// {username, password}. INVALID_ARGUMENT (never quoting the content) otherwise.
absl::StatusOr<v1::Credential> parseCredentialFile(const std::string& content);

// The secret name brokering `resource`'s credentials: the policy's `credentials.secret`, else
// the resource name; empty when the resource is unknown or uses a sidecar-local file.
std::string secretNameFor(const policy::CompiledPolicy& policy, const std::string& resource);

// One file per secret name under `dir` (`<dir>/<name>`; names are single path components,
// Kubernetes' `..data` symlink layout works). A credential's generation starts at 1 and grows
// each time the file's content changes; a thread re-checks known names about every
// `poll_interval` and notifies subscribers (and audits EVENT_CREDENTIAL_ROTATED, without the
// secret). Secrets are never logged. Thread-safe.
class CredentialDirectory {
 public:
  CredentialDirectory(std::string dir, Auditor* auditor,
                      std::chrono::milliseconds poll_interval = std::chrono::seconds(1));
  ~CredentialDirectory();
  CredentialDirectory(const CredentialDirectory&) = delete;
  CredentialDirectory& operator=(const CredentialDirectory&) = delete;

  void start();
  void stop();

  // The credential stored under `name` (resource field set to `name`; callers overwrite it with
  // the resource). NOT_FOUND when there is no such file (or no directory configured),
  // INVALID_ARGUMENT for a bad name or content.
  absl::StatusOr<v1::Credential> get(const std::string& name);

  // get(secretNameFor(policy, resource)) with `resource` set; NOT_FOUND when not brokered.
  absl::StatusOr<v1::Credential> forResource(const policy::CompiledPolicy& policy,
                                             const std::string& resource);

  // Re-reads every known name now; returns the names that rotated. Called by the thread.
  std::vector<std::string> poll();

  // `callback(name)` when a known secret's content changes.
  Subscription subscribe(std::function<void(const std::string&)> callback) {
    return subscribers_.add(std::move(callback));
  }

 private:
  struct Entry {
    std::string fingerprint;  // SHA-256 of the content, never the content
    uint64_t generation = 0;
  };
  absl::StatusOr<std::string> readFile(const std::string& name) const;
  void run();

  std::string dir_;
  Auditor* auditor_;
  std::chrono::milliseconds poll_interval_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  Subscribers<std::string> subscribers_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tollgate::controlplane::core
