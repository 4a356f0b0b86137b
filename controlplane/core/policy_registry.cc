// PolicyRegistry: validation, versioning, persistence and notification of policy documents.
#include "controlplane/core/policy_registry.h"

#include <openssl/sha.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "controlplane/core/time_util.h"
#include "policy/loader.h"

namespace tollgate::controlplane::core {
namespace {

constexpr std::string_view kDocName = "policy.yaml";

std::string sha256Hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

// Reads a leading "<digits>:" from `s`, advancing it; false when absent.
bool takeNumber(std::string_view& s, uint32_t* out) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + colon, *out);
  if (ec != std::errc() || p != s.data() + colon) return false;
  s.remove_prefix(colon + 1);
  return true;
}

// "policy.yaml:12:5: message" -> {12, 5, "message"}; anything else -> {0, 0, whole text}.
v1::PolicyError toPolicyError(const std::string& text) {
  v1::PolicyError e;
  std::string_view s = text;
  if (s.substr(0, kDocName.size()) == kDocName && s.size() > kDocName.size() &&
      s[kDocName.size()] == ':') {
    s.remove_prefix(kDocName.size() + 1);
  }
  uint32_t line = 0;
  uint32_t column = 0;
  std::string_view rest = s;
  if (takeNumber(rest, &line) && takeNumber(rest, &column)) {
    if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    e.set_line(line);
    e.set_column(column);
    e.set_message(std::string(rest));
  } else {
    e.set_message(std::string(s));
  }
  return e;
}

std::string authorName(const v1::Identity& id) {
  if (!id.display_name().empty() && id.display_name() != id.principal_id()) {
    return id.display_name() + " (" + id.principal_id() + ")";
  }
  return id.principal_id();
}

v1::Identity selfIdentity() {
  v1::Identity id;
  id.set_issuer("tollgate:controlplane");
  id.set_subject("controlplane");
  id.set_principal_id("tollgate:controlplane|controlplane");
  id.set_display_name("control plane (initial policy file)");
  return id;
}

}  // namespace

policy::CompiledPolicyPtr validatePolicyYaml(const std::string& yaml,
                                             std::vector<v1::PolicyError>* errors) {
  policy::CompileOptions options;
  // The control plane validates; the sidecars compile with their own hash key material.
  options.require_hash_key = false;
  options.read_hash_key = false;  // the sidecars' keys, not files or variables of ours
  auto loaded = policy::loadPolicyText(yaml, kDocName, options);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) errors->push_back(toPolicyError(e));
    if (loaded.errors.empty()) errors->push_back(toPolicyError("policy does not compile"));
    return nullptr;
  }
  return loaded.policy;
}

absl::Status PolicyRegistry::init(const std::string& initial_policy_file) {
  auto stored = store_.loadPolicyVersions();
  if (!stored.ok()) return stored.status();
  std::lock_guard lock(mu_);
  versions_ = *std::move(stored);
  for (size_t i = 0; i < versions_.size(); ++i) {
    if (versions_[i].version() != i + 1) {
      return absl::DataLossError("state store: policy versions are not dense at version " +
                                 std::to_string(i + 1));
    }
  }
  if (!versions_.empty()) {
    std::vector<v1::PolicyError> errors;
    auto compiled = validatePolicyYaml(versions_.back().yaml(), &errors);
    if (!compiled) {
      return absl::FailedPreconditionError(
          "stored policy version " + std::to_string(versions_.back().version()) +
          " no longer compiles: " + (errors.empty() ? "" : errors.front().message()));
    }
    current_ = std::make_shared<PolicySnapshot>(PolicySnapshot{versions_.back(), compiled});
    return absl::OkStatus();
  }
  if (initial_policy_file.empty()) return absl::OkStatus();
  std::ifstream in(initial_policy_file);
  if (!in) return absl::NotFoundError(initial_policy_file + ": cannot open policy file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<v1::PolicyError> errors;
  auto compiled = validatePolicyYaml(ss.str(), &errors);
  if (!compiled) {
    std::string msg = initial_policy_file + ": invalid policy:";
    for (const auto& e : errors) {
      msg +=
          "\n" + std::to_string(e.line()) + ":" + std::to_string(e.column()) + ": " + e.message();
    }
    return absl::InvalidArgumentError(msg);
  }
  auto snap = storeLocked(ss.str(), compiled, "initial policy from " + initial_policy_file,
                          selfIdentity(), 0);
  return snap.status();
}

PolicySnapshotPtr PolicyRegistry::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

absl::StatusOr<PolicySnapshotPtr> PolicyRegistry::storeLocked(const std::string& yaml,
                                                              policy::CompiledPolicyPtr compiled,
                                                              const std::string& comment,
                                                              const v1::Identity& author,
                                                              uint64_t rolled_from) {
  v1::PolicyVersion v;
  v.set_version(versions_.size() + 1);
  v.set_yaml(yaml);
  v.set_author(authorName(author));
  v.set_comment(comment);
  *v.mutable_applied_at() = toTimestamp(clock_->now());
  v.set_sha256(sha256Hex(yaml));
  v.set_rolled_back_from(rolled_from);
  std::string detail = rolled_from == 0
                           ? "policy version " + std::to_string(v.version()) + " applied"
                           : "policy version " + std::to_string(v.version()) +
                                 " created by rollback from version " + std::to_string(rolled_from);
  if (!comment.empty()) detail += ": " + comment;
  // The record first: a version that cannot be audited is not applied (PCI DSS 10.2).
  const v1::EventType type =
      rolled_from == 0 ? v1::EVENT_POLICY_APPLIED : v1::EVENT_POLICY_ROLLED_BACK;
  if (auto st = auditor_.recordRequired(type, author, "", detail, true); !st.ok()) {
    return absl::Status(st.code(), std::string(st.message()) + "; policy version " +
                                       std::to_string(v.version()) + " was not applied");
  }
  if (auto st = store_.putPolicyVersion(v); !st.ok()) {
    auditor_
        .record(
            type, author, "",
            "policy version " + std::to_string(v.version()) + " was not applied: storing it failed",
            false)
        .IgnoreError();  // logged by the auditor
    return absl::InternalError("storing policy version failed: " + std::string(st.message()));
  }
  versions_.push_back(v);
  current_ = std::make_shared<PolicySnapshot>(PolicySnapshot{v, std::move(compiled)});
  log::info(rolled_from == 0 ? "policy applied" : "policy rolled back",
            {{"version", std::to_string(v.version())}, {"author", v.author()}});
  return current_;
}

absl::StatusOr<v1::ApplyPolicyResponse> PolicyRegistry::apply(const v1::ApplyPolicyRequest& request,
                                                              const v1::Identity& author) {
  v1::ApplyPolicyResponse response;
  std::vector<v1::PolicyError> errors;
  auto compiled = validatePolicyYaml(request.yaml(), &errors);
  if (!compiled) {
    for (auto& e : errors) *response.add_errors() = std::move(e);
    return response;
  }
  PolicySnapshotPtr snap;
  {
    std::lock_guard lock(mu_);
    if (std::string why =
            policy::maskingDropped(current_ ? current_->compiled.get() : nullptr, *compiled);
        !why.empty()) {
      *response.add_errors() = toPolicyError(why);
      return response;
    }
    uint64_t current = versions_.size();
    if (request.expected_version() != 0 && request.expected_version() != current) {
      return absl::FailedPreconditionError(
          "expected policy version " + std::to_string(request.expected_version()) +
          " but the current version is " + std::to_string(current));
    }
    if (request.dry_run()) {
      auto* v = response.mutable_applied();
      v->set_yaml(request.yaml());
      v->set_sha256(sha256Hex(request.yaml()));
      v->set_comment(request.comment());
      v->set_author(authorName(author));
      return response;
    }
    auto stored = storeLocked(request.yaml(), compiled, request.comment(), author, 0);
    if (!stored.ok()) return stored.status();
    snap = *stored;
  }
  *response.mutable_applied() = snap->version;
  subscribers_.notify(snap);
  return response;
}

absl::StatusOr<v1::PolicyVersion> PolicyRegistry::get(uint64_t version) const {
  std::lock_guard lock(mu_);
  if (versions_.empty()) return absl::NotFoundError("no policy has been applied yet");
  if (version == 0) return versions_.back();
  if (version > versions_.size()) {
    return absl::NotFoundError("no policy version " + std::to_string(version) + " (latest is " +
                               std::to_string(versions_.size()) + ")");
  }
  return versions_[version - 1];
}

std::vector<v1::PolicyVersion> PolicyRegistry::history(uint32_t limit) const {
  if (limit == 0) limit = 50;
  std::lock_guard lock(mu_);
  std::vector<v1::PolicyVersion> out;
  for (auto it = versions_.rbegin(); it != versions_.rend() && out.size() < limit; ++it) {
    out.push_back(*it);
    out.back().clear_yaml();
  }
  return out;
}

absl::StatusOr<v1::PolicyVersion> PolicyRegistry::rollback(uint64_t to_version,
                                                           const std::string& comment,
                                                           const v1::Identity& author) {
  PolicySnapshotPtr snap;
  {
    std::lock_guard lock(mu_);
    if (to_version == 0 || to_version > versions_.size()) {
      return absl::NotFoundError("no policy version " + std::to_string(to_version));
    }
    std::string yaml = versions_[to_version - 1].yaml();
    std::vector<v1::PolicyError> errors;
    auto compiled = validatePolicyYaml(yaml, &errors);
    if (!compiled) {
      return absl::FailedPreconditionError(
          "policy version " + std::to_string(to_version) +
          " no longer compiles: " + (errors.empty() ? std::string() : errors.front().message()));
    }
    std::string note = "rollback to version " + std::to_string(to_version);
    if (!comment.empty()) note += ": " + comment;
    auto stored = storeLocked(yaml, compiled, note, author, versions_.size());
    if (!stored.ok()) return stored.status();
    snap = *stored;
  }
  subscribers_.notify(snap);
  return snap->version;
}

}  // namespace tollgate::controlplane::core
