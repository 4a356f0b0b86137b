// Upstream credentials the sidecar injects: the job never holds a database secret.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tollgate::sidecar {

// A username and password for one resource. Held in memory only; never logged (the struct has
// no printer on purpose).
struct Credential {
  std::string username;
  std::string password;
  uint64_t generation = 0;  // increases when the secret changes
};

// Source of credentials for new sessions. Thread-safe.
class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // The current credential for `resource`, or NOT_FOUND / UNAVAILABLE with a reason that never
  // contains the secret.
  virtual absl::StatusOr<Credential> get(const std::string& resource) = 0;
};
using CredentialStorePtr = std::shared_ptr<CredentialStore>;

// Standalone mode: each resource names a file (as Kubernetes mounts Secrets). The file holds
// "username:password" on its first line, or YAML `{username: ..., password: ...}`. The file is
// re-read when its modification time or size changes, so rotating the secret needs no restart:
// new sessions use the new credential, live sessions keep theirs.
class FileCredentialStore : public CredentialStore {
 public:
  // resource name -> file path
  explicit FileCredentialStore(absl::flat_hash_map<std::string, std::string> files = {});

  // Replaces the map (a policy reload may name other files); thread-safe. A resource whose file
  // changed is read from the new file on its next get().
  void setFiles(absl::flat_hash_map<std::string, std::string> files);

  // CredentialStore
  absl::StatusOr<Credential> get(const std::string& resource) override;

  // Parses file content (exposed for tests).
  static absl::StatusOr<Credential> parse(const std::string& content, const std::string& path);

 private:
  struct Cached {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    Credential credential;
  };
  absl::flat_hash_map<std::string, std::string> files_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_;
};

}  // namespace tollgate::sidecar
