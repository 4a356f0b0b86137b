// Subject, glob and qualified-name matching for access rules and guardrails.
#include "policy/subject.h"

namespace tollgate::policy {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr std::string_view kSaPrefix = "system:serviceaccount:";

}  // namespace

Identity Identity::fromSubject(std::string_view subject, std::vector<std::string> groups) {
  Identity id;
  id.subject = std::string(subject);
  id.groups = std::move(groups);
  if (subject.substr(0, kSaPrefix.size()) == kSaPrefix) {
    std::string_view rest = subject.substr(kSaPrefix.size());
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos && colon > 0 && colon + 1 < rest.size()) {
      id.namespace_name = std::string(rest.substr(0, colon));
      id.service_account = std::string(rest.substr(colon + 1));
    }
  }
  return id;
}

std::string expandSubject(std::string_view subject) {
  const size_t slash = subject.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == subject.size() ||
      subject.find('/', slash + 1) != std::string_view::npos ||
      subject.find(':') != std::string_view::npos) {
    return std::string(subject);
  }
  return std::string(kSaPrefix) + std::string(subject.substr(0, slash)) + ":" +
         std::string(subject.substr(slash + 1));
}

bool globMatch(std::string_view pattern, std::string_view text, bool fold_case) {
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, star_t = 0;
  auto eq = [fold_case](char a, char b) { return fold_case ? lower(a) == lower(b) : a == b; };
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || eq(pattern[p], text[t]))) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool subjectMatches(const SubjectSpec& spec, const Identity& id) {
  bool any_key = false;
  if (!spec.subject.empty()) {
    any_key = true;
    if (!globMatch(spec.subject, id.subject)) return false;
  }
  if (!spec.namespace_name.empty()) {
    any_key = true;
    if (id.namespace_name.empty() || !globMatch(spec.namespace_name, id.namespace_name)) {
      return false;
    }
  }
  if (!spec.service_account.empty()) {
    any_key = true;
    if (id.namespace_name.empty() || id.service_account.empty()) return false;
    std::string_view sa = spec.service_account;
    size_t slash = sa.find('/');
    if (slash == std::string_view::npos) return false;  // the loader rejects this form
    if (!globMatch(sa.substr(0, slash), id.namespace_name) ||
        !globMatch(sa.substr(slash + 1), id.service_account)) {
      return false;
    }
  }
  if (!spec.group.empty()) {
    any_key = true;
    bool found = false;
    for (const auto& g : id.groups) {
      if (globMatch(spec.group, g)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return any_key;
}

bool anySubjectMatches(const std::vector<SubjectSpec>& specs, const Identity& id) {
  for (const auto& s : specs) {
    if (subjectMatches(s, id)) return true;
  }
  return false;
}

bool qualifiedNameMatches(std::string_view pattern, std::string_view name) {
  if (pattern.find('.') != std::string_view::npos) return globMatch(pattern, name, true);
  size_t dot = name.rfind('.');
  std::string_view last = dot == std::string_view::npos ? name : name.substr(dot + 1);
  return globMatch(pattern, last, true);
}

}  // namespace tollgate::policy
