// Policy loader: approvers, subjects, access rules and guardrails.
#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "policy/loader_internal.h"
#include "policy/sql/statement_table.h"
#include "policy/subject.h"

namespace tollgate::policy::loader {
namespace {

constexpr int64_t kMaxDurationSeconds = 24 * 3600;

bool validTypeGlob(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || c == '_' || c == '*' || c == '?')) return false;
  }
  return true;
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Why `type` (a guardrail's match.statement entry) can never match a statement, or "": a
// misspelt type would silently switch the guardrail off.
std::string unknownStatementType(const std::string& type) {
  const auto& types = sql::statementTypes();
  if (type.find_first_of("*?") != std::string::npos) {
    for (std::string_view known : types) {
      if (globMatch(type, known, true)) return "";
    }
    return absl::StrCat("statement type pattern '", type, "' matches no statement type");
  }
  if (sql::isStatementType(type)) return "";
  std::string_view nearest;
  size_t best = 3;  // suggested within two edits
  for (std::string_view known : types) {
    const size_t d = editDistance(type, known);
    if (d < best) {
      best = d;
      nearest = known;
    }
  }
  // DROP of every kind of object is one type; `objects` names what it drops.
  if (type.rfind("drop_", 0) == 0 && nearest.empty()) nearest = "drop";
  std::string why = absl::StrCat("unknown statement type '", type, "'");
  if (!nearest.empty()) why += absl::StrCat(" (did you mean '", std::string(nearest), "'?)");
  absl::StrAppend(&why, "; `tollgatectl policy test` shows a statement's type");
  return why;
}

void parseMatch(Context& ctx, const YAML::Node& node, Guardrail& g, const std::string& what) {
  YamlMap m(node, ctx.errors, "match");
  if (!m.ok()) return;
  size_t errors_before = ctx.errors.errors().size();
  GuardrailMatch& mt = g.match;
  YAML::Node cls = m.get("class");
  for (const auto& c : m.strList("class")) {
    StatementClass sc;
    if (!parseClass(c, &sc)) {
      ctx.errors.add(cls, absl::StrCat(what, ": unknown statement class '", c,
                                       "' (expected read, write, ddl, admin, transaction, other)"));
      continue;
    }
    mt.classes.push_back(sc);
  }
  YAML::Node st = m.get("statement");
  for (const auto& t : m.strList("statement")) {
    if (!validTypeGlob(t)) {
      ctx.errors.add(st, absl::StrCat(what, ": statement type '", t,
                                      "' must be lower-case letters and '_' (globs * ? allowed)"));
      continue;
    }
    if (std::string why = unknownStatementType(t); !why.empty()) {
      ctx.errors.add(st, absl::StrCat(what, ": ", why));
      continue;
    }
    mt.statements.push_back(t);
  }
  if (auto w = m.oneOf("where", {"absent", "present"})) mt.where_present = *w == "present";
  mt.objects = m.strList("objects");
  mt.functions = m.strList("functions");
  for (const auto* list : {&mt.objects, &mt.functions}) {
    for (const auto& s : *list) {
      if (s.empty()) ctx.errors.add(node, absl::StrCat(what, ": empty name in objects/functions"));
    }
  }
  if (auto p = m.str("pattern")) {
    mt.pattern = *p;
    g.pattern_pos = posOf(m.get("pattern"));
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_case_sensitive(false);
    RE2 re(*p, opts);
    if (p->empty()) {
      ctx.errors.add(m.get("pattern"), absl::StrCat(what, ": pattern must not be empty"));
    } else if (!re.ok()) {
      ctx.errors.add(m.get("pattern"), absl::StrCat(what, ": bad pattern: ", re.error()));
    }
  }
  mt.multi_statement = m.boolean("multiStatement");
  m.finish();
  if (mt.empty() && ctx.errors.errors().size() == errors_before) {
    ctx.errors.add(node, absl::StrCat(what,
                                      ": match must not be empty (it would match every "
                                      "statement)"));
  }
}

}  // namespace

Approvers parseApprovers(Context& ctx, const YAML::Node& node, std::string_view what) {
  Approvers a;
  YamlMap m(node, ctx.errors, what);
  if (auto g = m.str("group")) a.group = *g;
  if (auto c = m.integer("count", 1, 10)) a.count = static_cast<int>(*c);
  if (auto t = m.durationSeconds("timeout")) {
    if (*t < 1 || *t > kMaxDurationSeconds) {
      ctx.errors.add(m.get("timeout"),
                     absl::StrCat(std::string(what), ".timeout must be between 1s and 24h"));
    } else {
      a.timeout_seconds = *t;
    }
  }
  m.finish();
  return a;
}

std::vector<SubjectSpec> parseSubjects(Context& ctx, const YAML::Node& node,
                                       std::string_view what) {
  std::vector<SubjectSpec> out;
  forEachItem(
      ctx, node, absl::StrCat(std::string(what), ": subjects"),
      [&](const YAML::Node& item, size_t) {
        SubjectSpec s;
        YamlMap m(item, ctx.errors, "subject");
        if (!m.ok()) return;
        if (auto v = m.str("serviceAccount")) {
          size_t slash = v->find('/');
          if (slash == std::string::npos || slash == 0 || slash + 1 == v->size() ||
              v->find('/', slash + 1) != std::string::npos) {
            ctx.errors.add(m.get("serviceAccount"),
                           absl::StrCat("serviceAccount '", *v,
                                        "' must be NAMESPACE/NAME (wildcards allowed, e.g. ns/*)"));
          } else {
            s.service_account = *v;
          }
        }
        if (auto v = m.str("namespace")) s.namespace_name = *v;
        if (auto v = m.str("group")) s.group = *v;
        if (auto v = m.str("subject")) s.subject = *v;
        m.finish();
        if (!m.has("serviceAccount") && !m.has("namespace") && !m.has("group") &&
            !m.has("subject")) {
          ctx.errors.add(item,
                         "a subject needs at least one of serviceAccount, namespace, group, "
                         "subject");
          return;
        }
        for (const char* key : {"serviceAccount", "namespace", "group", "subject"}) {
          YAML::Node v = m.get(key);
          if (v && v.IsScalar() && v.Scalar().empty()) {
            ctx.errors.add(v, absl::StrCat("subject.", key, " must not be empty"));
          }
        }
        out.push_back(std::move(s));
      });
  return out;
}

void parseAccess(Context& ctx, const YAML::Node& node, PolicyDocument& doc) {
  std::set<std::string> names;
  forEachItem(ctx, node, "access", [&](const YAML::Node& item, size_t index) {
    AccessRule r;
    r.pos = posOf(item);
    YamlMap m(item, ctx.errors, "access rule");
    if (!m.ok()) return;
    r.name = absl::StrCat("access[", index + 1, "]");
    if (auto n = m.str("name")) {
      r.name = *n;
      if (checkName(ctx, m.get("name"), r.name, "access rule") && !names.insert(r.name).second) {
        ctx.errors.add(m.get("name"), absl::StrCat("duplicate access rule name '", r.name, "'"));
      }
    }
    std::string what = absl::StrCat("access rule '", r.name, "'");
    YAML::Node subjects = m.get("subjects");
    if (!subjects) {
      ctx.errors.add(item, absl::StrCat(what, ": missing required key 'subjects'"));
    } else {
      r.subjects = parseSubjects(ctx, subjects, what);
      if (subjects.IsSequence() && subjects.size() == 0) {
        ctx.errors.add(subjects, absl::StrCat(what, ": subjects must not be empty"));
      }
    }
    r.resources = readResourceList(ctx, m, true, what);
    if (auto role = m.oneOf("role", {"read", "write", "admin"}, true)) parseRole(*role, &r.role);
    if (auto d = m.durationSeconds("maxDuration")) {
      if (*d < 1 || *d > kMaxDurationSeconds) {
        ctx.errors.add(m.get("maxDuration"),
                       absl::StrCat(what, ": maxDuration must be between 1s and 24h"));
      } else {
        r.max_duration_seconds = *d;
      }
    }
    if (auto a = m.oneOf("approval", {"none", "required"})) {
      r.approval = *a == "required" ? Approval::kRequired : Approval::kNone;
    }
    if (YAML::Node ap = m.get("approvers")) {
      r.approvers = parseApprovers(ctx, ap, "approvers");
      if (r.approval != Approval::kRequired) {
        ctx.errors.add(ap, absl::StrCat(what, ": approvers given but approval is not 'required'"));
      }
    }
    m.finish();
    doc.access.push_back(std::move(r));
  });
}

void parseGuardrails(Context& ctx, const YAML::Node& node, PolicyDocument& doc) {
  std::set<std::string> names;
  forEachItem(ctx, node, "guardrails", [&](const YAML::Node& item, size_t) {
    Guardrail g;
    g.pos = posOf(item);
    YamlMap m(item, ctx.errors, "guardrail");
    if (!m.ok()) return;
    if (auto n = m.str("name", true)) {
      g.name = *n;
      if (checkName(ctx, m.get("name"), g.name, "guardrail") && !names.insert(g.name).second) {
        ctx.errors.add(m.get("name"), absl::StrCat("duplicate guardrail name '", g.name, "'"));
      }
    }
    std::string what = absl::StrCat("guardrail '", g.name, "'");
    g.resources = readResourceList(ctx, m, false, what);
    if (YAML::Node s = m.get("subjects")) g.subjects = parseSubjects(ctx, s, what);
    YAML::Node match = m.get("match");
    if (!match) {
      ctx.errors.add(item, absl::StrCat(what, ": missing required key 'match'"));
    } else {
      parseMatch(ctx, match, g, what);
    }
    if (auto a = m.oneOf("action", {"allow", "review", "block"}, true)) {
      g.action = *a == "allow"    ? GuardrailAction::kAllow
                 : *a == "review" ? GuardrailAction::kReview
                                  : GuardrailAction::kBlock;
    }
    if (auto msg = m.str("message")) g.message = *msg;
    if (YAML::Node ap = m.get("approvers")) {
      g.approvers = parseApprovers(ctx, ap, "approvers");
      if (g.action != GuardrailAction::kReview) {
        ctx.errors.add(ap, absl::StrCat(what, ": approvers given but action is not 'review'"));
      }
    }
    m.finish();
    doc.guardrails.push_back(std::move(g));
  });
}

}  // namespace tollgate::policy::loader
