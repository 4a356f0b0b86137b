// Policy loader: the document's top level, defaults, resources, shared helpers, entry points.
#include "policy/loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "policy/loader_internal.h"

namespace tollgate::policy {
namespace loader {

void Context::warn(const YAML::Node& node, std::string_view message) {
  SourcePos p = posOf(node);
  warnings.push_back(
      YamlError{errors.file(), p.line, p.column, absl::StrCat("warning: ", std::string(message))}
          .toString());
}

SourcePos posOf(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  YAML::Mark m = node.Mark();
  if (m.line < 0) return {};
  return SourcePos{m.line + 1, m.column + 1};
}

bool checkName(Context& ctx, const YAML::Node& node, const std::string& name,
               std::string_view what) {
  bool ok = !name.empty() && name.size() <= 100;
  for (size_t i = 0; ok && i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
  }
  if (!ok) {
    ctx.errors.add(node, absl::StrCat(std::string(what), " name '", name,
                                      "' is invalid: use 1-100 letters, digits, '.', '_' or '-', "
                                      "starting with a letter or digit"));
  }
  return ok;
}

std::string resolvePath(const Context& ctx, const std::string& path) {
  if (path.empty() || path[0] == '/' || ctx.base_dir.empty()) return path;
  return (std::filesystem::path(ctx.base_dir) / path).lexically_normal().string();
}

std::vector<std::string> readResourceList(Context& ctx, YamlMap& map, bool required,
                                          const std::string& what) {
  YAML::Node node = map.get("resources");
  std::vector<std::string> names = map.strList("resources", required);
  if (!node) {
    if (!required) names.push_back("*");
    return names;
  }
  if (names.empty() && (node.IsSequence() || node.IsScalar())) {
    ctx.errors.add(node, absl::StrCat(what, ": resources must not be empty"));
  }
  size_t i = 0;
  for (const auto& n : names) {
    YAML::Node item = node.IsSequence() && i < node.size() ? node[i] : node;
    ++i;
    if (n != "*") ctx.refs.push_back(ResourceRef{n, posOf(item), what});
  }
  return names;
}

namespace {

// YAML allows a mapping to repeat a key and yaml-cpp keeps the first silently; in a security
// policy a second "action:" that is ignored is a trap, so every repeat is an error. The walk
// is bounded so alias-heavy documents cannot make it explode.
void checkDuplicateKeys(const YAML::Node& node, YamlErrors& errors, size_t& budget) {
  if (budget == 0) return;
  --budget;
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      if (kv.first.IsScalar() && !seen.insert(kv.first.Scalar()).second) {
        errors.add(kv.first, absl::StrCat("duplicate key '", kv.first.Scalar(), "'"));
      }
      checkDuplicateKeys(kv.second, errors, budget);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) checkDuplicateKeys(item, errors, budget);
  }
}

void parseDefaults(Context& ctx, const YAML::Node& node, Defaults& d) {
  if (!node) return;
  YamlMap m(node, ctx.errors, "defaults");
  if (auto v = m.oneOf("unknownDestination", {"deny", "passthrough"})) {
    d.unknown_destination =
        *v == "deny" ? UnknownDestination::kDeny : UnknownDestination::kPassthrough;
  }
  if (auto v = m.oneOf("audit", {"async", "sync"})) {
    d.audit = *v == "sync" ? AuditMode::kSync : AuditMode::kAsync;
  }
  if (auto v = m.oneOf("onParseError", {"block", "review", "allow"})) {
    if (*v == "block") d.on_parse_error = ParseErrorAction::kBlock;
    if (*v == "review") d.on_parse_error = ParseErrorAction::kReview;
    if (*v == "allow") {
      d.on_parse_error = ParseErrorAction::kAllow;
      ctx.warn(m.get("onParseError"),
               "onParseError: allow forwards statements the gate cannot inspect; use block");
    }
  }
  if (YAML::Node a = m.get("approvers")) d.approvers = parseApprovers(ctx, a, "defaults.approvers");
  m.finish();
}

}  // namespace

void parseResources(Context& ctx, const YAML::Node& node, PolicyDocument& doc) {
  std::set<std::string> names;
  forEachItem(ctx, node, "resources", [&](const YAML::Node& item, size_t) {
    Resource r;
    r.pos = posOf(item);
    YamlMap m(item, ctx.errors, "resource");
    if (!m.ok()) return;
    if (auto name = m.str("name", true)) {
      r.name = *name;
      if (checkName(ctx, m.get("name"), r.name, "resource") && !names.insert(r.name).second) {
        ctx.errors.add(m.get("name"), absl::StrCat("duplicate resource name '", r.name, "'"));
      }
    }
    std::string what = absl::StrCat("resource '", r.name, "'");
    if (auto p = m.oneOf("protocol", {"postgres", "mysql", "http", "tcp"}, true)) {
      parseProtocol(*p, &r.protocol);
      if (r.protocol == Protocol::kMysql || r.protocol == Protocol::kHttp) {
        ctx.warn(m.get("protocol"), absl::StrCat(what, ": protocol ", *p,
                                                 " is not served by the sidecar yet (only "
                                                 "postgres and tcp are): its connections are "
                                                 "refused"));
      }
    }
    YAML::Node up = m.get("upstream");
    if (!up) {
      ctx.errors.add(item, absl::StrCat(what, ": missing required key 'upstream'"));
    } else {
      YamlMap u(up, ctx.errors, "upstream");
      if (auto h = u.str("host", true)) {
        r.upstream.host = *h;
        if (h->empty()) ctx.errors.add(u.get("host"), "upstream.host must not be empty");
      }
      if (auto p = u.integer("port", 1, 65535, true)) r.upstream.port = static_cast<int>(*p);
      if (auto t = u.oneOf("tls", {"disable", "require", "verify-ca", "verify-full"})) {
        parseTlsMode(*t, &r.upstream.tls);
        if (r.upstream.tls == TlsMode::kDisable) {
          ctx.warn(u.get("tls"), absl::StrCat(what,
                                              ": tls: disable sends credentials and data "
                                              "in clear text (PCI DSS 4.2.1)"));
        } else if (r.upstream.tls == TlsMode::kRequire) {
          ctx.warn(u.get("tls"), absl::StrCat(what,
                                              ": tls: require does not verify the server "
                                              "certificate; prefer verify-full"));
        }
      }
      if (auto ca = u.str("ca")) r.upstream.ca = resolvePath(ctx, *ca);
      if (auto sn = u.str("serverName")) r.upstream.server_name = *sn;
      u.finish();
    }
    if (YAML::Node c = m.get("credentials")) {
      YamlMap cm(c, ctx.errors, "credentials");
      if (auto f = cm.str("file")) r.credentials.file = resolvePath(ctx, *f);
      if (auto s = cm.str("secret")) r.credentials.secret = *s;
      if (cm.ok() && cm.has("file") == cm.has("secret")) {
        ctx.errors.add(c, "credentials: give exactly one of 'file' or 'secret'");
      }
      cm.finish();
    } else if (r.protocol == Protocol::kPostgres || r.protocol == Protocol::kMysql) {
      ctx.warn(item, absl::StrCat(what,
                                  ": no credentials: a standalone sidecar refuses its sessions "
                                  "(the client's own login is never used upstream); a control "
                                  "plane brokers the secret named like the resource"));
    }
    if (auto db = m.str("database")) r.database = *db;
    if (YAML::Node mt = m.get("match")) {
      YamlMap mm(mt, ctx.errors, "match");
      r.match.hosts = mm.strList("hosts");
      YAML::Node ports = mm.get("ports");
      forEachItem(ctx, ports, "match.ports", [&](const YAML::Node& pn, size_t) {
        int64_t v = 0;
        if (!pn.IsScalar() || !absl::SimpleAtoi(pn.Scalar(), &v) || v < 1 || v > 65535) {
          ctx.errors.add(pn, "match.ports entries must be port numbers (1-65535)");
          return;
        }
        r.match.ports.push_back(static_cast<int>(v));
      });
      for (const auto& h : r.match.hosts) {
        if (h.empty() ||
            (h.find('*') != std::string::npos &&
             (h.size() < 3 || h.rfind("*.", 0) != 0 || h.find('*', 1) != std::string::npos))) {
          ctx.errors.add(mm.get("hosts"), absl::StrCat("match.hosts entry '", h,
                                                       "' must be a name, an address or *.suffix"));
        }
      }
      mm.finish();
    }
    m.finish();
    doc.resources.push_back(std::move(r));
  });
}

}  // namespace loader

absl::Status PolicyLoadResult::status() const {
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

PolicyDocument parsePolicyDocument(const YAML::Node& root, YamlErrors& errors,
                                   std::vector<std::string>& warnings,
                                   const std::string& base_dir) {
  PolicyDocument doc;
  doc.file = errors.file();
  loader::Context ctx{errors, warnings, base_dir, {}};
  try {
    if (!root.IsDefined() || root.IsNull()) {
      errors.addAt(1, 1, "the policy is empty");
      return doc;
    }
    size_t budget = 200000;
    loader::checkDuplicateKeys(root, errors, budget);
    if (budget == 0) errors.add(root, "the policy is too large (more than 200000 YAML nodes)");
    YamlMap top(root, errors, "policy");
    if (!top.ok()) return doc;
    if (auto v = top.integer("version", 1, 1, true)) doc.version = static_cast<int>(*v);
    loader::parseDefaults(ctx, top.get("defaults"), doc.defaults);
    loader::parseResources(ctx, top.get("resources"), doc);
    loader::parseAccess(ctx, top.get("access"), doc);
    loader::parseGuardrails(ctx, top.get("guardrails"), doc);
    loader::parseMasking(ctx, top.get("masking"), doc);
    top.finish();
    std::set<std::string> known;
    for (const auto& r : doc.resources) known.insert(r.name);
    for (const auto& ref : ctx.refs) {
      if (known.count(ref.name) == 0) {
        errors.addAt(ref.pos.line, ref.pos.column,
                     absl::StrCat(ref.what, ": unknown resource '", ref.name, "'"));
      }
    }
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on a few malformed shapes; report rather than crash.
    errors.addAt(e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.column >= 0 ? e.mark.column + 1 : 0,
                 absl::StrCat("YAML: ", e.msg));
  }
  return doc;
}

PolicyLoadResult loadPolicyText(std::string_view text, std::string_view file,
                                const CompileOptions& options) {
  PolicyLoadResult out;
  auto root = parseYaml(text, file);
  if (!root.ok()) {
    out.errors.push_back(std::string(root.status().message()));
    return out;
  }
  std::string base_dir;
  if (!file.empty()) base_dir = std::filesystem::path(std::string(file)).parent_path().string();
  YamlErrors errors{std::string(file)};
  PolicyDocument doc = parsePolicyDocument(*root, errors, out.warnings, base_dir);
  if (!errors.empty()) {
    // Sections are checked one after another (references last); report in document order.
    std::vector<YamlError> sorted = errors.errors();
    std::stable_sort(sorted.begin(), sorted.end(), [](const YamlError& a, const YamlError& b) {
      return std::make_pair(a.line, a.column) < std::make_pair(b.line, b.column);
    });
    for (const auto& e : sorted) out.errors.push_back(e.toString());
    return out;
  }
  auto compiled = CompiledPolicy::compile(std::move(doc), options, &out.warnings);
  if (!compiled.ok()) {
    for (absl::string_view line : absl::StrSplit(compiled.status().message(), '\n')) {
      out.errors.emplace_back(line);
    }
    return out;
  }
  out.policy = *compiled;
  return out;
}

PolicyLoadResult loadPolicyFile(const std::string& path, const CompileOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    PolicyLoadResult out;
    out.errors.push_back(absl::StrCat(path, ": cannot open file"));
    return out;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return loadPolicyText(buf.str(), path, options);
}

}  // namespace tollgate::policy
