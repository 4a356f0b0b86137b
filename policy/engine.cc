// Per-statement and per-query decisions: role check, masking.copies, then the first matching
// guardrail.
#include "policy/engine.h"

#include <re2/re2.h>

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy/sql/statement_table.h"

namespace tollgate::policy {
namespace {

// Session statements of class other that any grant may run.
constexpr std::string_view kHarmlessOther[] = {
    "set", "reset", "show", "discard", "deallocate", "close", "listen", "unlisten",
};

constexpr char kCopyRule[] = "masking:copy";

// "SET SESSION AUTHORIZATION" as the engine reads the target word of a SET (setTarget).
constexpr std::string_view kAuthorizationWord = "authorization";

// Skips whitespace and SQL comments (nested block comments too) from `i`.
size_t skipSpaceAndComments(std::string_view s, size_t i) {
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      int depth = 0;
      while (i < s.size()) {
        if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
    } else {
      break;
    }
  }
  return i;
}

// Reads one identifier-like token (a quoted identifier keeps its quotes; dots included).
std::string_view nextWord(std::string_view s, size_t* i) {
  *i = skipSpaceAndComments(s, *i);
  size_t start = *i;
  while (*i < s.size()) {
    char c = s[*i];
    if (c == '"') {
      ++*i;
      while (*i < s.size() && s[*i] != '"') ++*i;
      if (*i < s.size()) ++*i;
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
               c == '$' || static_cast<unsigned char>(c) >= 0x80) {
      ++*i;
    } else {
      break;
    }
  }
  return s.substr(start, *i - start);
}

// Compares a token with a lower-case word, ignoring case and surrounding double quotes.
bool wordIs(std::string_view token, std::string_view word) {
  if (token.size() >= 2 && token.front() == '"' && token.back() == '"') {
    token = token.substr(1, token.size() - 2);
  }
  if (token.size() != word.size()) return false;
  for (size_t k = 0; k < token.size(); ++k) {
    if (absl::ascii_tolower(static_cast<unsigned char>(token[k])) != word[k]) return false;
  }
  return true;
}

// The setting a SET statement changes ("role", "search_path", "myapp.tenant"), from its text;
// empty when the text does not read as SET.
std::string_view setTarget(std::string_view text) {
  size_t i = 0;
  if (!wordIs(nextWord(text, &i), "set")) return {};
  std::string_view word = nextWord(text, &i);
  if (wordIs(word, "session") || wordIs(word, "local")) {
    size_t save = i;
    std::string_view next = nextWord(text, &i);
    if (!next.empty()) return next;
    i = save;
  }
  return word;
}

// A setting a read or write role may change (`name` as written, quotes allowed; empty when the
// text did not say what it sets: not harmless).
bool ordinarySetting(std::string_view name) {
  if (wordIs(name, kAuthorizationWord)) return false;
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    name = name.substr(1, name.size() - 2);
  }
  return sql::isOrdinarySetting(name);
}

bool harmlessOther(const StatementFacts& st) {
  bool listed = false;
  for (auto t : kHarmlessOther) listed |= st.type == t;
  if (!listed) return false;
  if (st.type != "set") return true;
  return ordinarySetting(setTarget(st.normalized));
}

bool anyNameMatches(const std::vector<std::string>& patterns,
                    const std::vector<std::string>& names) {
  for (const auto& n : names) {
    for (const auto& p : patterns) {
      if (qualifiedNameMatches(p, n)) return true;
    }
  }
  return false;
}

std::string_view roleWord(Role r) { return roleName(r); }

const std::string& roleRule(Role r) {
  static const std::string kRules[] = {"role:read", "role:write", "role:admin"};
  return kRules[static_cast<int>(r)];
}

StatementVerdict decideStatement(const CompiledPolicy& policy, const Identity& identity,
                                 std::string_view resource, Role role, const QueryFacts& query,
                                 size_t index) {
  const StatementFacts& st = query.statements[index];
  StatementVerdict v;
  v.index = index;
  const std::string& role_rule = roleRule(role);
  if (!roleAllows(role, st)) {
    v.decision = Decision::kBlock;
    v.rule = role_rule;
    v.message = absl::StrCat("blocked by rule \"", role_rule, "\": a ", std::string(roleWord(role)),
                             " grant does not allow ", std::string(className(st.cls)),
                             " statements (", st.type, ")");
    return v;
  }
  // Before guardrails, which cannot exempt it: their objects match the relations read too, so
  // one allowing writes to a table would allow copying a masked column out of it. Held for
  // review, it still gets a guardrail's block.
  std::optional<StatementVerdict> copy;
  if (const CopyAction copies = policy.document().masking.copies;
      !st.lineage.stored.empty() && copies != CopyAction::kAllow) {
    const MaskerPtr masker = policy.masker(resource);
    if (std::string why = masker ? unmaskedCopy(*masker, st) : ""; !why.empty()) {
      copy = v;
      copy->rule = kCopyRule;
      if (copies == CopyAction::kBlock) {
        copy->decision = Decision::kBlock;
        copy->message = absl::StrCat("blocked by rule \"", kCopyRule, "\": ", why);
        return *copy;
      }
      copy->decision = Decision::kReview;
      copy->message = absl::StrCat("held for approval by rule \"", kCopyRule, "\": ", why);
      copy->approvers = policy.defaults().approvers;
    }
  }
  for (const auto& g : policy.guardrails()) {
    const Guardrail& spec = g.spec;
    if (!coversResource(spec.resources, resource)) continue;
    if (!spec.subjects.empty() && !anySubjectMatches(spec.subjects, identity)) continue;
    if (!guardrailMatches(g, st, query)) continue;
    if (copy && spec.action != GuardrailAction::kBlock) return *copy;
    v.rule = g.rule_id;
    std::string suffix = spec.message.empty() ? "" : absl::StrCat(": ", spec.message);
    switch (spec.action) {
      case GuardrailAction::kBlock:
        v.decision = Decision::kBlock;
        v.message = absl::StrCat("blocked by rule \"", spec.name, "\"", suffix);
        break;
      case GuardrailAction::kReview:
        v.decision = Decision::kReview;
        v.message = absl::StrCat("held for approval by rule \"", spec.name, "\"", suffix);
        v.approvers = spec.approvers;
        break;
      case GuardrailAction::kAllow:
        v.decision = Decision::kAllow;
        v.message = spec.message;
        break;
    }
    return v;
  }
  if (copy) return *copy;
  v.decision = Decision::kAllow;
  v.rule = role_rule;
  return v;
}

}  // namespace

std::string unmaskedCopy(const Masker& masker, const StatementFacts& st) {
  if (!masker.hasColumnRules()) return "";
  for (const auto& [target, value] : st.lineage.stored) {
    if (value.sources.empty() && !value.whole_row) continue;  // literals, parameters
    bool whole = value.whole_row || st.lineage.opaque;
    std::vector<std::string> names;
    for (const std::string& s : value.sources) {
      for (const std::string& n : st.lineage.closure(s, &whole)) addLineageName(&names, n);
    }
    const std::vector<const MaskingRuleSpec*> sources = masker.columnRulesFor(names, whole);
    if (sources.empty()) continue;
    const MaskingRuleSpec* kept = target.empty() ? nullptr : masker.planColumn(target).column_rule;
    for (const MaskingRuleSpec* r : sources) {
      if (kept == r || (kept != nullptr && kept->action == r->action)) continue;
      const std::string rule = absl::StrCat("data masked by rule \"", r->name, "\"");
      if (target.empty()) {
        return absl::StrCat(
            "the statement stores ",
            whole ? "whole rows or columns by position, which may hold " : "", rule,
            " in columns it does not name (an INSERT without a column list, a `*`, a database "
            "function storing what it is given, a rule on a table it writes), where it would be "
            "read unmasked; name the "
            "columns (INSERT INTO t (a, b) SELECT a, b ...)");
      }
      return absl::StrCat(
          "the statement stores ",
          whole ? "a whole row or columns the gate cannot name, which may hold " : "", rule,
          " in column ", target.substr(0, 63), ", which ",
          kept == nullptr ? "no rule masks" : "another rule masks differently",
          "; store it in a column that rule masks");
    }
  }
  return "";
}

bool settingAllowed(Role role, std::string_view name, std::string_view value) {
  // For any role: the statements that follow would be read differently by the server.
  if (wordIs(name, "client_encoding") && sql::isAsciiEmbeddingEncoding(value)) return false;
  if (role >= Role::kAdmin) return true;
  if (!ordinarySetting(name)) return false;
  if (wordIs(name, "standard_conforming_strings")) {
    // Turned off, the server would lex later statements differently from the analyser.
    return sql::isTrueWord(value);
  }
  // A read grant's transactions are read-only (the sidecar starts its session so).
  if (sql::isReadOnlySetting(name) && role < Role::kWrite) return sql::isTrueWord(value);
  return true;
}

bool roleAllows(Role role, const StatementFacts& st) {
  switch (st.cls) {
    case StatementClass::kRead:
    case StatementClass::kTransaction:
      return true;
    case StatementClass::kWrite:
      return role >= Role::kWrite;
    case StatementClass::kDdl:
    case StatementClass::kAdmin:
      return role >= Role::kAdmin;
    case StatementClass::kOther:
      return role >= Role::kAdmin || harmlessOther(st);
  }
  return false;
}

bool guardrailMatches(const CompiledGuardrail& g, const StatementFacts& st,
                      const QueryFacts& query) {
  const GuardrailMatch& m = g.spec.match;
  if (m.empty()) return false;  // the loader rejects these; never match everything by accident
  if (!m.classes.empty()) {
    bool hit = false;
    for (auto c : m.classes) hit |= c == st.cls;
    if (!hit) return false;
  }
  if (!m.statements.empty()) {
    bool hit = false;
    for (const auto& t : m.statements) {
      hit |= globMatch(t, st.type, true);
      // A statement that runs others (PREPARE and its EXECUTE, EXPLAIN ANALYZE, a data-modifying
      // CTE, a DO body) matches their types too: "PREPARE d AS DELETE ..." is a delete.
      for (const auto& inner : st.inner_types) hit |= globMatch(t, inner, true);
      // has_where is false only when an UPDATE or DELETE without WHERE is somewhere in the
      // statement, also nested in a data-modifying CTE under a SELECT ("WITH x AS (DELETE
      // FROM cards RETURNING *) SELECT ..."): such a statement counts as both types, so a
      // guardrail on unbounded deletes cannot be dodged by wrapping the DELETE.
      if (!st.has_where) hit |= globMatch(t, "delete", true) || globMatch(t, "update", true);
    }
    if (!hit) return false;
  }
  if (m.where_present && *m.where_present != st.has_where) return false;
  if (!m.objects.empty() && !anyNameMatches(m.objects, st.reads) &&
      !anyNameMatches(m.objects, st.writes)) {
    return false;
  }
  if (!m.functions.empty() && !anyNameMatches(m.functions, st.functions)) return false;
  if (m.multi_statement && *m.multi_statement != query.multiStatement()) return false;
  if (!m.pattern.empty()) {
    if (g.pattern == nullptr || !g.pattern->ok()) return true;  // fail closed
    if (!RE2::PartialMatch(st.normalized, *g.pattern)) return false;
  }
  return true;
}

Verdict decide(const CompiledPolicy& policy, const Identity& identity, std::string_view resource,
               Role role, const QueryFacts& facts) {
  Verdict out;
  if (!facts.parsed) {
    const Defaults& d = policy.defaults();
    out.rule = "parse-error";
    std::string why = facts.error.empty() ? "" : absl::StrCat(": ", facts.error);
    switch (d.on_parse_error) {
      case ParseErrorAction::kBlock:
        out.decision = Decision::kBlock;
        out.message = absl::StrCat(
            "blocked by rule \"parse-error\": the statement could not be "
            "parsed",
            why);
        break;
      case ParseErrorAction::kReview:
        out.decision = Decision::kReview;
        out.message = absl::StrCat(
            "held for approval by rule \"parse-error\": the statement "
            "could not be parsed",
            why);
        out.approvers = d.approvers;
        break;
      case ParseErrorAction::kAllow:
        out.decision = Decision::kAllow;
        out.message = absl::StrCat(
            "allowed by defaults.onParseError although the statement "
            "could not be parsed",
            why);
        break;
    }
    return out;
  }
  if (policy.resource(resource) == nullptr) {
    out.decision = Decision::kBlock;
    out.rule = "unknown-resource";
    out.message =
        absl::StrCat("blocked: resource \"", std::string(resource), "\" is not in the policy");
    for (size_t i = 0; i < facts.statements.size(); ++i) {
      out.statements.push_back(StatementVerdict{i, out.decision, out.rule, out.message, {}});
    }
    if (!facts.statements.empty()) out.deciding_statement = 0;
    return out;
  }
  if (facts.statements.empty()) {
    out.decision = Decision::kAllow;
    out.rule = "empty";
    return out;
  }
  size_t worst = 0;
  for (size_t i = 0; i < facts.statements.size(); ++i) {
    out.statements.push_back(decideStatement(policy, identity, resource, role, facts, i));
    if (out.statements[i].decision > out.statements[worst].decision) worst = i;
  }
  const StatementVerdict& w = out.statements[worst];
  out.decision = w.decision;
  out.rule = w.rule;
  out.message = w.message;
  out.approvers = w.approvers;
  out.deciding_statement = worst;
  if (facts.statements.size() > 1 && !out.message.empty()) {
    absl::StrAppend(&out.message, " (statement ", worst + 1, " of ", facts.statements.size(), ")");
  }
  return out;
}

}  // namespace tollgate::policy
