// The typed policy document: what a policy YAML file says, after validation, before compiling.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/mask/masker.h"
#include "policy/sql/facts.h"

namespace tollgate::policy {

// Where an item was written in the policy file (1-based; 0 when built in code).
struct SourcePos {
  int line = 0;
  int column = 0;
};

enum class Protocol { kPostgres, kMysql, kHttp, kTcp };
enum class TlsMode { kDisable, kRequire, kVerifyCa, kVerifyFull };
// Ordered: every role allows everything the previous one allows.
enum class Role { kRead = 0, kWrite = 1, kAdmin = 2 };
// Ordered by strictness, so the strictest of several decisions is the maximum.
enum class Decision { kAllow = 0, kReview = 1, kBlock = 2 };
enum class UnknownDestination { kDeny, kPassthrough };
enum class AuditMode { kAsync, kSync };
enum class ParseErrorAction { kBlock, kReview, kAllow };
// masking.copies: what a write that stores masked data where it would be read unmasked gets.
enum class CopyAction { kBlock, kReview, kAllow };
enum class GuardrailAction { kAllow, kReview, kBlock };
enum class Approval { kNone, kRequired };

// Names as written in policy ("postgres", "verify-full", "read", "block", ...). The parse
// functions return false on anything else.
std::string_view protocolName(Protocol p);
std::string_view tlsModeName(TlsMode t);
std::string_view roleName(Role r);
std::string_view decisionName(Decision d);
bool parseProtocol(std::string_view s, Protocol* out);
bool parseTlsMode(std::string_view s, TlsMode* out);
bool parseRole(std::string_view s, Role* out);

// Who approves a held statement or a grant request.
struct Approvers {
  std::string group;              // empty: anyone holding the approver role
  int count = 1;                  // approvals needed (1..10)
  int64_t timeout_seconds = 300;  // no decision in time means deny
};

struct Upstream {
  std::string host;
  int port = 0;
  TlsMode tls = TlsMode::kVerifyFull;
  std::string ca;           // CA bundle path; empty: the system trust store
  std::string server_name;  // name checked against the certificate; empty: `host`
};

// Where the sidecar gets the upstream credentials. Exactly one of file/secret is set, or
// neither (no credentials injected).
struct Credentials {
  std::string file;    // local file holding "username:password" or YAML {username, password}
  std::string secret;  // a secret name brokered by the control plane
  bool empty() const { return file.empty() && secret.empty(); }
};

// How a transparently intercepted destination (host, port) maps to a resource. When the
// policy gives no `match`, the resource matches its own upstream host and port.
struct ResourceMatch {
  std::vector<std::string> hosts;  // exact names/addresses, or "*.suffix"; case-insensitive
  std::vector<int> ports;
};

struct Resource {
  SourcePos pos;
  std::string name;
  Protocol protocol = Protocol::kPostgres;
  Upstream upstream;
  Credentials credentials;
  std::string database;  // database name used upstream; empty: the client's choice
  ResourceMatch match;
};

// One entry of an access rule's `subjects`. Every key that is set must match (AND); the
// entries of one rule are alternatives (OR). Values may use `*` (any run) and `?` (one char).
struct SubjectSpec {
  std::string service_account;  // "namespace/name", e.g. "payments-ci/*", "*/loader"
  std::string namespace_name;   // the workload's namespace
  std::string group;            // a group the identity belongs to
  std::string subject;          // the full subject string (OIDC sub, system:serviceaccount:...)
};

struct AccessRule {
  SourcePos pos;
  std::string name;  // "access[N]" (1-based) when the policy gives none
  std::vector<SubjectSpec> subjects;
  std::vector<std::string> resources;  // resource names or "*"
  Role role = Role::kRead;
  int64_t max_duration_seconds = 900;
  Approval approval = Approval::kNone;
  Approvers approvers;  // meaningful when approval == kRequired
};

// What a guardrail looks at. Every condition that is set must hold (AND); the entries of one
// list are alternatives (OR). At least one condition is set.
struct GuardrailMatch {
  std::vector<StatementClass> classes;
  std::vector<std::string> statements;  // statement types, globs allowed ("create_*")
  std::optional<bool> where_present;    // `where: absent` → false, `where: present` → true
  std::vector<std::string> objects;     // relation globs; without a dot: any schema
  std::vector<std::string> functions;   // function globs; without a dot: any schema
  std::string pattern;                  // RE2 searched in the normalised statement text
  std::optional<bool> multi_statement;  // whether the query holds more than one statement
  bool empty() const {
    return classes.empty() && statements.empty() && !where_present && objects.empty() &&
           functions.empty() && pattern.empty() && !multi_statement;
  }
};

struct Guardrail {
  SourcePos pos;
  SourcePos pattern_pos;
  std::string name;
  std::vector<std::string> resources;  // resource names or "*"; default all
  std::vector<SubjectSpec> subjects;   // empty: every identity
  GuardrailMatch match;
  GuardrailAction action = GuardrailAction::kBlock;
  std::string message;  // shown to the client; may be empty
  Approvers approvers;  // for action review
};

struct MaskingRule {
  SourcePos pos;
  MaskingRuleSpec spec;                // name, detector or columns, action
  std::vector<std::string> resources;  // resource names or "*"; default all
};

struct Masking {
  bool present = false;       // the document has a masking section (even an empty one)
  std::string hash_key_file;  // for hash actions: a file holding the key ...
  std::string hash_key_env;   // ... or the name of an environment variable holding it
  SourcePos keys_pos;
  std::vector<DetectorSpec> detectors;
  std::vector<SourcePos> detector_pos;  // parallel to `detectors`
  std::vector<MaskingRule> rules;
  // Globs of result column names whose number type (int8, numeric) is kept when detector rules
  // scan them (policy/mask/masker.h, Masker::keepsNumberType).
  std::vector<std::string> keep_number_types;
  // A write storing data of a column under a column rule where reading it back would not mask
  // it the same way (`UPDATE cards SET note = cvv`): policy/engine.h, rule "masking:copy".
  CopyAction copies = CopyAction::kBlock;
};

struct Defaults {
  UnknownDestination unknown_destination = UnknownDestination::kDeny;
  AuditMode audit = AuditMode::kAsync;
  ParseErrorAction on_parse_error = ParseErrorAction::kBlock;
  Approvers approvers;  // used when on_parse_error is review
};

// A whole policy file.
struct PolicyDocument {
  std::string file;  // where it was loaded from ("" for text)
  int version = 1;
  Defaults defaults;
  std::vector<Resource> resources;
  std::vector<AccessRule> access;
  std::vector<Guardrail> guardrails;
  Masking masking;
};

}  // namespace tollgate::policy
