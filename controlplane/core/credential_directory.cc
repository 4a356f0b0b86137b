// CredentialDirectory: secret files parsed, fingerprinted and watched for rotation.
#include "controlplane/core/credential_directory.h"

#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "common/log.h"

namespace tollgate::controlplane::core {
namespace {

std::string fingerprint(const std::string& content) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

bool validName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string trimLine(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.pop_back();
  return s;
}

}  // namespace

absl::StatusOr<v1::Credential> parseCredentialFile(const std::string& content) {
  v1::Credential c;
  std::string first = trimLine(content.substr(0, content.find('\n')));
  size_t colon = first.find(':');
  // "user:password" unless it reads as a YAML mapping ("username: ...").
  bool yaml_like = first.rfind("username:", 0) == 0 || first.rfind("password:", 0) == 0 ||
                   first.rfind("{", 0) == 0;
  if (!yaml_like && colon != std::string::npos && colon > 0) {
    c.set_username(first.substr(0, colon));
    c.set_password(first.substr(colon + 1));
    return c;
  }
  try {
    YAML::Node root = YAML::Load(content);
    if (root.IsMap() && root["username"] && root["password"] && root["username"].IsScalar() &&
        root["password"].IsScalar()) {
      c.set_username(root["username"].as<std::string>());
      c.set_password(root["password"].as<std::string>());
      if (!c.username().empty()) return c;
    }
  } catch (const YAML::Exception&) {
    // Fall through: the message must not quote the content.
  }
  return absl::InvalidArgumentError(
      "credential file must hold 'username:password' or YAML {username, password}");
}

std::string secretNameFor(const policy::CompiledPolicy& policy, const std::string& resource) {
  const policy::Resource* r = policy.resource(resource);
  if (r == nullptr || !r->credentials.file.empty()) return "";
  return r->credentials.secret.empty() ? r->name : r->credentials.secret;
}

CredentialDirectory::CredentialDirectory(std::string dir, Auditor* auditor,
                                         std::chrono::milliseconds poll_interval)
    : dir_(std::move(dir)), auditor_(auditor), poll_interval_(poll_interval) {}

CredentialDirectory::~CredentialDirectory() { stop(); }

void CredentialDirectory::start() {
  if (dir_.empty() || thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void CredentialDirectory::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CredentialDirectory::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, poll_interval_);
    if (stopping_) break;
    lock.unlock();
    poll();
    lock.lock();
  }
}

absl::StatusOr<std::string> CredentialDirectory::readFile(const std::string& name) const {
  if (dir_.empty()) return absl::NotFoundError("no credentials directory is configured");
  if (!validName(name)) return absl::InvalidArgumentError("bad credential name '" + name + "'");
  std::ifstream in(dir_ + "/" + name, std::ios::binary);
  if (!in) return absl::NotFoundError("no credential file for '" + name + "' in " + dir_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<v1::Credential> CredentialDirectory::get(const std::string& name) {
  auto content = readFile(name);
  if (!content.ok()) return content.status();
  auto cred = parseCredentialFile(*content);
  if (!cred.ok()) {
    return absl::InvalidArgumentError("credential '" + name +
                                      "': " + std::string(cred.status().message()));
  }
  std::string fp = fingerprint(*content);
  bool rotated = false;
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[name];
    if (e.generation == 0) {
      e.generation = 1;
      e.fingerprint = fp;
    } else if (e.fingerprint != fp) {
      ++e.generation;
      e.fingerprint = fp;
      rotated = true;
    }
    generation = e.generation;
  }
  if (rotated) {
    log::info("credential rotated", {{"name", name}, {"generation", std::to_string(generation)}});
    if (auditor_ != nullptr) {
      v1::Identity self;
      self.set_principal_id(auditor_->source());
      self.set_subject(auditor_->source());
      auditor_
          ->record(v1::EVENT_CREDENTIAL_ROTATED, self, "",
                   "credential '" + name + "' rotated to generation " + std::to_string(generation),
                   true)
          .IgnoreError();
    }
    subscribers_.notify(name);
  }
  cred->set_resource(name);
  cred->set_generation(generation);
  return cred;
}

absl::StatusOr<v1::Credential> CredentialDirectory::forResource(
    const policy::CompiledPolicy& policy, const std::string& resource) {
  std::string name = secretNameFor(policy, resource);
  if (name.empty()) {
    return absl::NotFoundError("resource '" + resource + "' has no brokered credentials");
  }
  auto cred = get(name);
  if (!cred.ok()) return cred.status();
  cred->set_resource(resource);
  return cred;
}

std::vector<std::string> CredentialDirectory::poll() {
  std::vector<std::pair<std::string, uint64_t>> known;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, e] : entries_) known.emplace_back(name, e.generation);
  }
  std::vector<std::string> rotated;
  for (const auto& [name, generation] : known) {
    auto cred = get(name);
    if (!cred.ok()) {
      log::warn("credential unreadable",
                {{"name", name}, {"error", std::string(cred.status().message())}});
      continue;
    }
    if (cred->generation() != generation) rotated.push_back(name);
  }
  return rotated;
}

}  // namespace tollgate::controlplane::core
