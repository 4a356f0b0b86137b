// Policy loader: the masking section (hash keys, custom detectors, rules and their actions).
#include <set>

#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "policy/loader_internal.h"

namespace tollgate::policy::loader {
namespace {

bool parseKind(const std::string& s, MaskAction::Kind* out) {
  if (s == "pci")
    *out = MaskAction::Kind::kPciDisplay;
  else if (s == "redact")
    *out = MaskAction::Kind::kRedact;
  else if (s == "last4")
    *out = MaskAction::Kind::kLast4;
  else if (s == "hash")
    *out = MaskAction::Kind::kHash;
  else
    return false;
  return true;
}

constexpr const char* kKinds = "pci, redact, last4, hash";

// An action: a scalar kind ("redact") or a mapping {type, ...options of that type}.
MaskAction parseAction(Context& ctx, const YAML::Node& node, const std::string& what) {
  MaskAction a;
  if (node.IsScalar()) {
    if (!parseKind(node.Scalar(), &a.kind)) {
      ctx.errors.add(node, absl::StrCat(what, ": unknown action '", node.Scalar(),
                                        "' (expected one of ", kKinds, ")"));
    }
    return a;
  }
  YamlMap m(node, ctx.errors, "action");
  if (!m.ok()) return a;
  auto type = m.str("type", true);
  if (type && !parseKind(*type, &a.kind)) {
    ctx.errors.add(m.get("type"), absl::StrCat(what, ": unknown action type '", *type,
                                               "' (expected one of ", kKinds, ")"));
    type.reset();
  }
  if (type) {
    // Options valid for each kind; the rest stay unread and finish() reports them.
    if (a.kind == MaskAction::Kind::kPciDisplay) {
      if (auto f = m.integer("keepFirst", 0, 8)) a.keep_first = static_cast<int>(*f);
      if (auto l = m.integer("keepLast", 0, 4)) a.keep_last = static_cast<int>(*l);
    }
    if (a.kind != MaskAction::Kind::kHash) {
      if (auto c = m.str("maskChar")) {
        unsigned char ch = c->size() == 1 ? static_cast<unsigned char>((*c)[0]) : 0;
        if (ch < 0x21 || ch > 0x7e || (ch >= '0' && ch <= '9')) {
          ctx.errors.add(m.get("maskChar"), absl::StrCat(what,
                                                         ": maskChar must be one printable "
                                                         "ASCII character other than a digit"));
        } else {
          a.mask_char = static_cast<char>(ch);
        }
      }
    } else {
      if (auto k = m.boolean("keepLength")) a.hash_keep_length = *k;
    }
  }
  m.finish();
  return a;
}

void parseKeys(Context& ctx, const YAML::Node& node, Masking& out) {
  out.keys_pos = posOf(node);
  YamlMap m(node, ctx.errors, "masking.keys");
  if (auto f = m.str("hashKeyFile")) out.hash_key_file = resolvePath(ctx, *f);
  if (auto e = m.str("hashKeyEnv")) out.hash_key_env = *e;
  if (m.ok() && m.has("hashKeyFile") == m.has("hashKeyEnv")) {
    ctx.errors.add(node, "masking.keys: give exactly one of 'hashKeyFile' or 'hashKeyEnv'");
  }
  m.finish();
}

}  // namespace

void parseMasking(Context& ctx, const YAML::Node& node, PolicyDocument& doc) {
  Masking& out = doc.masking;
  out.present = static_cast<bool>(node);
  if (!node) {
    ctx.warnings.push_back(YamlError{ctx.errors.file(), 0, 0,
                                     "warning: no masking section: card numbers in responses are "
                                     "not masked (PCI DSS 3.4.1)"}
                               .toString());
    return;
  }
  YamlMap m(node, ctx.errors, "masking");
  if (!m.ok()) return;
  if (YAML::Node k = m.get("keys")) parseKeys(ctx, k, out);

  std::set<std::string> detectors = {"pan"};
  forEachItem(ctx, m.get("detectors"), "masking.detectors", [&](const YAML::Node& item, size_t) {
    DetectorSpec d;
    YamlMap dm(item, ctx.errors, "detector");
    if (!dm.ok()) return;
    if (auto n = dm.str("name", true)) {
      d.name = *n;
      if (checkName(ctx, dm.get("name"), d.name, "detector") && !detectors.insert(d.name).second) {
        ctx.errors.add(dm.get("name"),
                       d.name == "pan" ? std::string("detector name 'pan' is built in")
                                       : absl::StrCat("duplicate detector name '", d.name, "'"));
      }
    }
    if (auto p = dm.str("pattern", true)) {
      d.pattern = *p;
      RE2::Options opts;
      opts.set_log_errors(false);
      RE2 re(*p, opts);
      if (p->empty()) {
        ctx.errors.add(dm.get("pattern"),
                       absl::StrCat("detector '", d.name, "': pattern must not be empty"));
      } else if (!re.ok()) {
        ctx.errors.add(dm.get("pattern"),
                       absl::StrCat("detector '", d.name, "': bad pattern: ", re.error()));
      }
    }
    if (auto v = dm.oneOf("validator", {"none", "luhn"})) d.validator = *v;
    dm.finish();
    out.detectors.push_back(std::move(d));
    out.detector_pos.push_back(posOf(item));
  });

  std::set<std::string> names;
  bool any_pan = false, any_hash = false;
  forEachItem(ctx, m.get("rules"), "masking.rules", [&](const YAML::Node& item, size_t) {
    MaskingRule r;
    r.pos = posOf(item);
    YamlMap rm(item, ctx.errors, "masking rule");
    if (!rm.ok()) return;
    if (auto n = rm.str("name", true)) {
      r.spec.name = *n;
      if (checkName(ctx, rm.get("name"), *n, "masking rule") && !names.insert(*n).second) {
        ctx.errors.add(rm.get("name"), absl::StrCat("duplicate masking rule name '", *n, "'"));
      }
    }
    std::string what = absl::StrCat("masking rule '", r.spec.name, "'");
    if (auto d = rm.str("detector")) {
      r.spec.detector = *d;
      if (detectors.count(*d) == 0) {
        ctx.errors.add(rm.get("detector"), absl::StrCat(what, ": unknown detector '", *d, "'"));
      }
      any_pan |= *d == "pan";
    }
    YAML::Node cols = rm.get("columns");
    r.spec.columns = rm.strList("columns");
    for (const auto& c : r.spec.columns) {
      if (c.empty()) ctx.errors.add(cols, absl::StrCat(what, ": empty column name"));
    }
    if (rm.has("detector") == rm.has("columns")) {
      ctx.errors.add(item, absl::StrCat(what, ": give exactly one of 'detector' or 'columns'"));
    } else if (cols && r.spec.columns.empty() && (cols.IsSequence() || cols.IsScalar())) {
      ctx.errors.add(cols, absl::StrCat(what, ": columns must not be empty"));
    }
    // Defaults: the PCI display mask for detected values, redaction for whole columns.
    r.spec.action.kind =
        rm.has("detector") ? MaskAction::Kind::kPciDisplay : MaskAction::Kind::kRedact;
    if (YAML::Node a = rm.get("action")) r.spec.action = parseAction(ctx, a, what);
    any_hash |= r.spec.action.kind == MaskAction::Kind::kHash;
    r.resources = readResourceList(ctx, rm, false, what);
    rm.finish();
    out.rules.push_back(std::move(r));
  });
  YAML::Node keep = m.get("keepNumberTypes");
  out.keep_number_types = m.strList("keepNumberTypes");
  for (const auto& c : out.keep_number_types) {
    if (c.empty()) ctx.errors.add(keep, "masking.keepNumberTypes: empty column name");
  }
  if (auto v = m.oneOf("copies", {"block", "review", "allow"})) {
    if (*v == "block") out.copies = CopyAction::kBlock;
    if (*v == "review") out.copies = CopyAction::kReview;
    if (*v == "allow") {
      out.copies = CopyAction::kAllow;
      ctx.warn(m.get("copies"),
               "masking.copies: allow lets a job with a write grant store masked columns' data "
               "where it is read back unmasked");
    }
  }
  m.finish();
  if (any_hash && out.hash_key_file.empty() && out.hash_key_env.empty() && !m.has("keys")) {
    ctx.errors.add(node, "masking: a rule uses the hash action but masking.keys gives no key");
  }
  if (!any_pan) {
    ctx.warn(node,
             "no masking rule uses the pan detector: card numbers in responses are not "
             "masked (PCI DSS 3.4.1)");
  }
}

}  // namespace tollgate::policy::loader
