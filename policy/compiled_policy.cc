// Compiles a validated policy document into lookup tables, RE2 programs and maskers.
#include "policy/compiled_policy.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/yaml_reader.h"

namespace tollgate::policy {
namespace {

std::string posError(const PolicyDocument& doc, SourcePos pos, std::string message) {
  return YamlError{doc.file, pos.line, pos.column, std::move(message)}.toString();
}

// Reads the hash key named by the masking section. Returns the key, or an error message.
absl::StatusOr<std::string> readHashKey(const Masking& m) {
  std::string key;
  if (!m.hash_key_file.empty()) {
    std::ifstream in(m.hash_key_file, std::ios::binary);
    if (!in)
      return absl::NotFoundError(absl::StrCat("cannot read hash key file ", m.hash_key_file));
    std::stringstream buf;
    buf << in.rdbuf();
    key = buf.str();
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  } else if (!m.hash_key_env.empty()) {
    const char* v = std::getenv(m.hash_key_env.c_str());
    if (v == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("environment variable ", m.hash_key_env, " (hash key) is not set"));
    }
    key = v;
  } else {
    return absl::NotFoundError("no hash key configured (masking.keys)");
  }
  if (key.size() < 16) {
    return absl::InvalidArgumentError("the hash key must be at least 16 bytes");
  }
  return key;
}

std::string ephemeralKey() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof(buf)) != 1) return std::string(32, '\x5a');
  return std::string(reinterpret_cast<const char*>(buf), sizeof(buf));
}

bool hostMatches(std::string_view pattern, std::string_view host) {
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    std::string_view suffix = pattern.substr(1);  // ".suffix"
    return host.size() > suffix.size() &&
           absl::EqualsIgnoreCase(std::string(host.substr(host.size() - suffix.size())),
                                  std::string(suffix));
  }
  return absl::EqualsIgnoreCase(std::string(pattern), std::string(host));
}

}  // namespace

std::vector<std::string> effectiveHosts(const Resource& r) {
  if (!r.match.hosts.empty()) return r.match.hosts;
  return {r.upstream.host};
}

std::vector<int> effectivePorts(const Resource& r) {
  if (!r.match.ports.empty()) return r.match.ports;
  return {r.upstream.port};
}

bool coversResource(const std::vector<std::string>& names, std::string_view resource) {
  for (const auto& n : names) {
    if (n == "*" || n == resource) return true;
  }
  return false;
}

absl::StatusOr<CompiledPolicyPtr> CompiledPolicy::compile(PolicyDocument doc,
                                                          const CompileOptions& options,
                                                          std::vector<std::string>* warnings) {
  std::shared_ptr<CompiledPolicy> p(new CompiledPolicy());
  p->doc_ = std::move(doc);
  const PolicyDocument& d = p->doc_;
  std::vector<std::string> errors;

  // Resources by name, and destinations claimed twice (as far as the text tells: IP literals
  // compared in canonical form, names by name; the sidecar checks again with names resolved).
  for (size_t i = 0; i < d.resources.size(); ++i) {
    const Resource& r = d.resources[i];
    if (!p->resource_index_.emplace(r.name, i).second) {
      errors.push_back(posError(d, r.pos, absl::StrCat("duplicate resource name '", r.name, "'")));
    }
  }
  p->claims_ = DestinationClaims::build(d, &DestinationClaims::literalAddresses);
  for (const auto& c : p->claims_.conflicts()) {
    const Resource* second = p->resource(c.second.resource);
    SourcePos pos = second != nullptr ? second->pos : SourcePos{};
    if (c.fatal) {
      errors.push_back(posError(d, pos, c.message()));
    } else if (warnings != nullptr) {
      warnings->push_back(posError(d, pos,
                                   absl::StrCat(c.message(),
                                                ": a connection to it is refused (list it in one "
                                                "resource's match.hosts to give it to that one)")));
    }
  }

  // Guardrail patterns. Case-insensitive always: SQL keywords are, and a pattern that a
  // client defeats by writing "CoPy" would be worse than useless.
  RE2::Options re_opts;
  re_opts.set_log_errors(false);
  re_opts.set_case_sensitive(false);
  for (const auto& g : d.guardrails) {
    CompiledGuardrail cg{g, nullptr, absl::StrCat("guardrail:", g.name)};
    if (!g.match.pattern.empty()) {
      auto re = std::make_shared<const re2::RE2>(g.match.pattern, re_opts);
      if (!re->ok()) {
        errors.push_back(
            posError(d, g.pattern_pos,
                     absl::StrCat("guardrail '", g.name, "': bad pattern: ", re->error())));
      }
      cg.pattern = std::move(re);
    }
    p->guardrails_.push_back(std::move(cg));
  }

  // Masking: hash keys, then one masker per resource and one with every rule.
  std::vector<MaskingRuleSpec> all_rules;
  bool needs_key = false;
  for (const auto& r : d.masking.rules) needs_key |= r.spec.action.kind == MaskAction::Kind::kHash;
  std::string key;
  if (needs_key && !options.read_hash_key) {
    key = ephemeralKey();
  } else if (needs_key) {
    auto k = readHashKey(d.masking);
    if (k.ok()) {
      key = *k;
    } else if (options.require_hash_key) {
      errors.push_back(posError(d, d.masking.keys_pos, std::string(k.status().message())));
    } else {
      if (warnings) {
        warnings->push_back(
            posError(d, d.masking.keys_pos,
                     absl::StrCat(k.status().message(), "; hash masks use an ephemeral key here")));
      }
      key = ephemeralKey();
    }
  }
  std::vector<MaskingRule> rules = d.masking.rules;
  for (auto& r : rules) {
    if (r.spec.action.kind == MaskAction::Kind::kHash) r.spec.action.hash_key = key;
    all_rules.push_back(r.spec);
  }
  auto all = Masker::compile(all_rules, d.masking.detectors, d.masking.keep_number_types);
  if (!all.ok()) {
    errors.push_back(posError(d, SourcePos{}, absl::StrCat("masking: ", all.status().message())));
  } else {
    p->all_masker_ = *all;
  }
  if (errors.empty()) {
    for (const auto& res : d.resources) {
      std::vector<MaskingRuleSpec> mine;
      for (const auto& r : rules) {
        if (coversResource(r.resources, res.name)) mine.push_back(r.spec);
      }
      auto m = Masker::compile(std::move(mine), d.masking.detectors, d.masking.keep_number_types);
      if (!m.ok()) {
        errors.push_back(posError(
            d, res.pos,
            absl::StrCat("masking for resource '", res.name, "': ", m.status().message())));
        continue;
      }
      p->maskers_[res.name] = *m;
    }
  }

  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) absl::StrAppend(&msg, msg.empty() ? "" : "\n", e);
    return absl::InvalidArgumentError(msg);
  }
  return CompiledPolicyPtr(std::move(p));
}

const Resource* CompiledPolicy::resource(std::string_view name) const {
  auto it = resource_index_.find(std::string(name));
  return it == resource_index_.end() ? nullptr : &doc_.resources[it->second];
}

const Resource* CompiledPolicy::resourceFor(std::string_view host, int port) const {
  DestinationClaims::Lookup found = claims_.find(host, port);
  if (found.claim != nullptr) return resource(found.claim->resource);
  if (found.conflict != nullptr) return nullptr;
  for (const auto& r : doc_.resources) {
    if (r.match.hosts.empty()) continue;
    bool port_ok = false;
    for (int p : effectivePorts(r)) port_ok |= p == port;
    if (!port_ok) continue;
    for (const auto& h : r.match.hosts) {
      if (h.find('*') != std::string::npos && hostMatches(h, host)) return &r;
    }
  }
  return nullptr;
}

const AccessRule* CompiledPolicy::matchAccess(const Identity& id, std::string_view resource) const {
  for (const auto& rule : doc_.access) {
    if (coversResource(rule.resources, resource) && anySubjectMatches(rule.subjects, id)) {
      return &rule;
    }
  }
  return nullptr;
}

MaskerPtr CompiledPolicy::masker(std::string_view resource) const {
  auto it = maskers_.find(std::string(resource));
  return it == maskers_.end() ? nullptr : it->second;
}

std::string maskingDropped(const CompiledPolicy* current, const CompiledPolicy& next) {
  if (current == nullptr || current->document().masking.rules.empty() ||
      next.document().masking.present) {
    return {};
  }
  return "the new policy has no masking section while the current one masks card data; write "
         "`masking: {rules: []}` to run without masking on purpose";
}

}  // namespace tollgate::policy
