// Upstream credentials the sidecar injects: the job never holds a database secret.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "policy/model.h"

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
  // The current credential for `resource` (of the policy snapshot the asking session runs
  // under), or NOT_FOUND / UNAVAILABLE with a reason that never contains the secret.
  virtual absl::StatusOr<Credential> get(const policy::Resource& resource) = 0;
};
using CredentialStorePtr = std::shared_ptr<CredentialStore>;

// Standalone mode: each resource names a file (credentials.file; as Kubernetes mounts Secrets),
// taken from the policy the asking session runs under, so a reload that names another file
// applies with the policy itself. The file holds "username:password" on its first line, or
// YAML `{username: ..., password: ...}`. The file is re-read when its modification time or size
// changes, so rotating the secret needs no restart: new sessions use the new credential, live
// sessions keep theirs.
class FileCredentialStore : public CredentialStore {
 public:
  // At most this many files are remembered; past it the cache starts again (each file is then
  // read once more).
  static constexpr size_t kMaxCachedFiles = 256;

  // CredentialStore. NOT_FOUND when the resource names no file.
  absl::StatusOr<Credential> get(const policy::Resource& resource) override;

  // Parses file content (exposed for tests).
  static absl::StatusOr<Credential> parse(const std::string& content, const std::string& path);

 private:
  struct Cached {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    Credential credential;
  };
  std::mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_;  // by file path
};

}  // namespace tollgate::sidecar
