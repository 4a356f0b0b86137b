// File-backed credential store with change detection.
#include "sidecar/credentials.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace tollgate::sidecar {

absl::StatusOr<Credential> FileCredentialStore::parse(const std::string& content,
                                                      const std::string& path) {
  Credential c;
  std::string text = content;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  // One line is `username:password` unless it is a YAML flow map ({username: ..., ...}): the
  // word "username" in a password (app:my_username_pw) does not make it YAML.
  const size_t first = text.find_first_not_of(" \t");
  if (text.find('\n') == std::string::npos && text.find(':') != std::string::npos &&
      (first == std::string::npos || text[first] != '{')) {
    auto colon = text.find(':');
    c.username = text.substr(0, colon);
    c.password = text.substr(colon + 1);
  } else {
    try {
      YAML::Node n = YAML::Load(text);
      if (n.IsMap() && n["username"] && n["password"]) {
        c.username = n["username"].as<std::string>();
        c.password = n["password"].as<std::string>();
      }
    } catch (const YAML::Exception&) {
      // Reported below without echoing the content.
    }
  }
  if (c.username.empty()) {
    return absl::InvalidArgumentError(
        "credential file " + path +
        " must hold 'username:password' or YAML {username: ..., password: ...}");
  }
  return c;
}

absl::StatusOr<Credential> FileCredentialStore::get(const policy::Resource& resource) {
  const std::string& path = resource.credentials.file;
  if (path.empty()) {
    return absl::NotFoundError("resource " + resource.name + " names no credential file");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::UnavailableError("credential file " + path + ": " + std::strerror(errno));
  }
  // Read on a worker loop: a FIFO or a device would block it (and every session on it).
  if (!S_ISREG(st.st_mode)) {
    return absl::UnavailableError("credential file " + path + ": not a regular file");
  }
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCachedFiles && !cache_.contains(path)) cache_.clear();
  Cached& cached = cache_[path];
  if (cached.mtime_ns == mtime && cached.size == st.st_size) return cached.credential;
  std::ifstream in(path);
  if (!in) return absl::UnavailableError("credential file " + path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse(ss.str(), path);
  if (!parsed.ok()) return parsed.status();
  uint64_t generation = cached.credential.generation + 1;
  cached.credential = *std::move(parsed);
  cached.credential.generation = generation;
  cached.mtime_ns = mtime;
  cached.size = st.st_size;
  return cached.credential;
}

}  // namespace tollgate::sidecar
