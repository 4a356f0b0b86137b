// `tollgatectl policy apply|get|history|rollback` and the online form of `policy test`.
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "tools/tollgatectl/commands.h"
#include "tools/tollgatectl/invocation.h"
#include "tools/tollgatectl/table.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/policy.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::ctl {
namespace {

constexpr const char* kApplyUsage =
    "usage: tollgatectl policy apply FILE [--comment TEXT] [--dry-run] [--expected-version N]\n";
constexpr const char* kGetUsage = "usage: tollgatectl policy get [--version N] [--json]\n";
constexpr const char* kHistoryUsage = "usage: tollgatectl policy history [--limit N] [--json]\n";
constexpr const char* kRollbackUsage =
    "usage: tollgatectl policy rollback VERSION [--comment TEXT]\n";
constexpr const char* kTestUsage =
    "usage: tollgatectl policy test --resource NAME [--role read|write|admin]\n"
    "                               [--subject SUBJECT] --sql TEXT [--column C --value V]...\n"
    "Asks the control plane what its current policy decides (use --policy FILE to test a\n"
    "local file offline instead).\n";

std::string readWholeFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Prints each validation error as FILE:LINE:COL: message. The errors come in the response
// (dry run) or, when the apply failed with INVALID_ARGUMENT, one per line of the message as
// "LINE:COL: message" (optionally after a document name) — both forms are handled.
int printPolicyErrors(const std::string& file, const std::vector<v1::PolicyError>& errors) {
  for (const auto& e : errors) {
    if (e.line() > 0) {
      std::fprintf(stderr, "%s:%u:%u: %s\n", file.c_str(), e.line(), e.column(),
                   e.message().c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), e.message().c_str());
    }
  }
  return kExitServerError;
}

std::vector<v1::PolicyError> errorsFromMessage(const std::string& message) {
  static const std::regex kLine(R"(^(?:.*?:)?(\d+):(\d+): (.*)$)");
  std::vector<v1::PolicyError> out;
  std::istringstream in(message);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, kLine)) continue;
    v1::PolicyError e;
    e.set_line(static_cast<uint32_t>(std::stoul(m[1].str())));
    e.set_column(static_cast<uint32_t>(std::stoul(m[2].str())));
    e.set_message(m[3].str());
    out.push_back(std::move(e));
  }
  return out;
}

std::string shortHash(const std::string& sha) { return sha.substr(0, 12); }

int runApply(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start(
      "policy apply", args,
      onlineFlags({{"comment", true, false, "why (kept in history)"},
                   {"dry-run", false, false, "validate only"},
                   {"expected-version", true, false, "apply only if the current version is N"}}),
      kApplyUsage, 1, 1, &rc);
  if (!inv) return rc;
  const std::string& file = inv->args()[0];
  bool ok = false;
  v1::ApplyPolicyRequest req;
  req.set_yaml(readWholeFile(file, &ok));
  if (!ok) return inv->usageError(file + ": cannot open file");
  req.set_comment(inv->flags().getOr("comment", ""));
  req.set_dry_run(inv->flags().has("dry-run"));
  if (auto ev = inv->flags().get("expected-version")) {
    auto n = parseNumber(*ev);
    if (!n) return inv->usageError("--expected-version must be a version number");
    req.set_expected_version(*n);
  }
  v1::PolicyService::Stub stub(inv->client().channel());
  v1::ApplyPolicyResponse resp;
  auto ctx = inv->context();
  grpc::Status st = stub.Apply(ctx.get(), req, &resp);
  if (!st.ok()) {
    if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      auto errors = errorsFromMessage(st.error_message());
      if (!errors.empty()) return printPolicyErrors(file, errors);
    }
    return inv->fail(st);
  }
  if (resp.errors_size() > 0) {
    return printPolicyErrors(file, {resp.errors().begin(), resp.errors().end()});
  }
  if (inv->json()) {
    printJson(resp);
  } else if (req.dry_run()) {
    std::printf("%s: valid (dry run: nothing applied)\n", file.c_str());
  } else {
    std::printf("%s: applied as version %llu (sha256 %s)\n", file.c_str(),
                static_cast<unsigned long long>(resp.applied().version()),
                shortHash(resp.applied().sha256()).c_str());
  }
  return kExitOk;
}

int runGet(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("policy get", args,
                               onlineFlags({{"version", true, false, "version (default current)"}}),
                               kGetUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::GetPolicyRequest req;
  if (auto v = inv->flags().get("version")) {
    auto n = parseNumber(*v);
    if (!n) return inv->usageError("--version must be a version number");
    req.set_version(*n);
  }
  v1::PolicyService::Stub stub(inv->client().channel());
  v1::PolicyVersion resp;
  auto ctx = inv->context();
  grpc::Status st = stub.Get(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else {
    std::fwrite(resp.yaml().data(), 1, resp.yaml().size(), stdout);
    if (!resp.yaml().empty() && resp.yaml().back() != '\n') std::fputc('\n', stdout);
  }
  return kExitOk;
}

int runHistory(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("policy history", args,
                               onlineFlags({{"limit", true, false, "newest N versions"}}),
                               kHistoryUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::PolicyHistoryRequest req;
  if (auto l = inv->flags().get("limit")) {
    auto n = parseNumber(*l);
    if (!n || *n == 0 || *n > 100000) return inv->usageError("--limit must be a positive number");
    req.set_limit(static_cast<uint32_t>(*n));
  }
  v1::PolicyService::Stub stub(inv->client().channel());
  v1::PolicyHistoryResponse resp;
  auto ctx = inv->context();
  grpc::Status st = stub.History(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    for (const auto& v : resp.versions()) printJson(v);
    return kExitOk;
  }
  Table t({"VERSION", "APPLIED", "AUTHOR", "SHA256", "COMMENT"});
  t.limit(2, 40);
  t.limit(4, 60);
  for (const auto& v : resp.versions()) {
    std::string comment = v.comment();
    if (v.rolled_back_from() != 0 && comment.find("rollback") == std::string::npos) {
      // rolled_back_from is the version current before the rollback; the target is the
      // newest older version with the same document.
      std::string note = "(rollback from v" + std::to_string(v.rolled_back_from());
      for (const auto& older : resp.versions()) {
        if (older.version() < v.version() && older.sha256() == v.sha256()) {
          note += " to v" + std::to_string(older.version());
          break;
        }
      }
      note += ")";
      if (!comment.empty()) note += " " + comment;
      comment = std::move(note);
    }
    t.add({std::to_string(v.version()), formatTime(v.applied_at()), v.author(),
           shortHash(v.sha256()), comment});
  }
  t.print();
  return kExitOk;
}

int runRollback(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("policy rollback", args,
                               onlineFlags({{"comment", true, false, "why (kept in history)"}}),
                               kRollbackUsage, 1, 1, &rc);
  if (!inv) return rc;
  auto n = parseNumber(inv->args()[0]);
  if (!n || *n == 0) return inv->usageError("VERSION must be a version number");
  v1::RollbackPolicyRequest req;
  req.set_to_version(*n);
  req.set_comment(inv->flags().getOr("comment", ""));
  v1::PolicyService::Stub stub(inv->client().channel());
  v1::PolicyVersion resp;
  auto ctx = inv->context();
  grpc::Status st = stub.Rollback(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else {
    std::printf("rolled back to version %llu: now version %llu (sha256 %s)\n",
                static_cast<unsigned long long>(*n),
                static_cast<unsigned long long>(resp.version()), shortHash(resp.sha256()).c_str());
  }
  return kExitOk;
}

}  // namespace

int runPolicyTestOnline(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start(
      "policy test", args,
      onlineFlags({{"resource", true, false, "resource name"},
                   {"role", true, false, "read|write|admin"},
                   {"subject", true, false, "subject the statement would run as"},
                   {"sql", true, false, "the query text"},
                   {"column", true, true, "column name of a row to mask (repeatable)"},
                   {"value", true, true, "value of that column (repeatable, same order)"}}),
      kTestUsage, 0, 0, &rc);
  if (!inv) return rc;
  const Flags& f = inv->flags();
  if (!f.has("resource") || (!f.has("sql") && !f.has("column"))) {
    return inv->usageError("--resource and --sql (or --column/--value) are required");
  }
  v1::TestPolicyRequest req;
  req.set_resource(*f.get("resource"));
  req.set_role(f.getOr("role", ""));
  if (!req.role().empty() && req.role() != "read" && req.role() != "write" &&
      req.role() != "admin") {
    return inv->usageError("--role must be read, write or admin");
  }
  req.set_subject(f.getOr("subject", ""));
  req.set_sql(f.getOr("sql", ""));
  auto columns = f.all("column");
  auto values = f.all("value");
  if (columns.size() != values.size()) {
    return inv->usageError("give one --value per --column");
  }
  for (const auto& c : columns) req.add_columns(c);
  for (const auto& v : values) req.add_values(v);
  v1::PolicyService::Stub stub(inv->client().channel());
  v1::TestPolicyResponse resp;
  auto ctx = inv->context();
  grpc::Status st = stub.Test(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
    return kExitOk;
  }
  if (resp.statements_size() > 0) {
    Table t({"#", "DECISION", "RULE", "CLASS", "TYPE", "READS", "WRITES", "NORMALIZED"});
    t.limit(7, 60);
    int i = 0;
    for (const auto& s : resp.statements()) {
      auto join = [](const auto& list) {
        std::string out;
        for (const auto& x : list) out += (out.empty() ? "" : ",") + x;
        return out.empty() ? "-" : out;
      };
      t.add({std::to_string(++i), enumWord(v1::Decision_Name(s.decision()), "DECISION_"), s.rule(),
             s.statement_class(), s.statement_type(), join(s.relations_read()),
             join(s.relations_written()), s.normalized()});
    }
    t.print();
  }
  if (resp.masked_values_size() > 0) {
    Table t({"COLUMN", "MASKED"});
    for (int i = 0; i < resp.masked_values_size(); ++i) {
      t.add({i < static_cast<int>(columns.size()) ? columns[static_cast<size_t>(i)] : "",
             resp.masked_values(i)});
    }
    t.print();
  }
  return kExitOk;
}

int runPolicyOnline(const std::string& name, const std::vector<std::string>& args) {
  if (name == "apply") return runApply(args);
  if (name == "get") return runGet(args);
  if (name == "history") return runHistory(args);
  if (name == "rollback") return runRollback(args);
  return -1;
}

}  // namespace tollgate::ctl
