// `tollgatectl audit search|export|verify`: read and check the tamper-evident audit trail.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/yaml_reader.h"
#include "tools/tollgatectl/commands.h"
#include "tools/tollgatectl/invocation.h"
#include "tools/tollgatectl/table.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/audit.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::ctl {
namespace {

constexpr const char* kUsage =
    "usage: tollgatectl audit search [FILTERS] [--limit N] [--all-pages | --page-token T]\n"
    "       tollgatectl audit export [FILTERS] [--output FILE]\n"
    "       tollgatectl audit verify [--from N] [--to N]\n"
    "FILTERS (all ANDed): --subject S --principal P --resource R --session ID\n"
    "  --since 1h | --from RFC3339 --to RFC3339   --decision allow|block|review\n"
    "  --rule R --text T --type statement,grant_issued,...\n"
    "export writes JSON lines (protobuf JSON mapping, one event per line); search --limit is\n"
    "the page size (default 100, max 1000). verify exits 1 and prints each problem when the\n"
    "chain or a checkpoint does not check out.\n";

std::vector<FlagSpec> filterFlags(std::initializer_list<FlagSpec> extra) {
  std::vector<FlagSpec> specs = {
      {"subject", true, false, "token subject"},
      {"principal", true, false, "principal id"},
      {"resource", true, false, "resource name"},
      {"session", true, false, "session id"},
      {"since", true, false, "events of the last D (e.g. 1h, 30m)"},
      {"from", true, false, "from this RFC 3339 time"},
      {"to", true, false, "up to this RFC 3339 time"},
      {"decision", true, false, "allow|block|review"},
      {"rule", true, false, "rule id"},
      {"text", true, false, "substring of the statement or detail"},
      {"type", true, true, "event types, comma separated (e.g. statement,session_start)"},
  };
  specs.insert(specs.end(), extra.begin(), extra.end());
  return specs;
}

std::vector<FlagSpec> withOnline(std::vector<FlagSpec> own) {
  std::vector<FlagSpec> all = onlineFlags({});
  own.insert(own.end(), all.begin(), all.end());
  return own;
}

std::string upper(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// Fills `req` from the filter flags; an error message for the first bad value.
std::optional<std::string> buildFilter(const Flags& f, v1::SearchAuditRequest* req) {
  req->set_subject(f.getOr("subject", ""));
  req->set_principal_id(f.getOr("principal", ""));
  req->set_resource(f.getOr("resource", ""));
  req->set_session_id(f.getOr("session", ""));
  req->set_rule_id(f.getOr("rule", ""));
  req->set_text(f.getOr("text", ""));
  if (f.has("since") && (f.has("from") || f.has("to"))) return "give --since or --from/--to";
  if (auto s = f.get("since")) {
    auto secs = parseDurationSeconds(*s);
    if (!secs || *secs <= 0) return "--since must look like 1h or 30m";
    req->mutable_from()->set_seconds(nowSeconds() - *secs);
  }
  for (const char* key : {"from", "to"}) {
    if (auto v = f.get(key)) {
      auto t = parseTime(*v);
      if (!t)
        return std::string("--") + key + " must be an RFC 3339 time like 2026-01-31T12:00:00Z";
      *(std::string(key) == "from" ? req->mutable_from() : req->mutable_to()) = *t;
    }
  }
  if (auto d = f.get("decision")) {
    v1::Decision dec;
    if (!v1::Decision_Parse("DECISION_" + upper(*d), &dec) || dec == v1::DECISION_UNSPECIFIED) {
      return "--decision must be allow, block or review";
    }
    req->set_decision(dec);
  }
  for (const auto& list : f.all("type")) {
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      std::string word = list.substr(start, comma == std::string::npos ? comma : comma - start);
      start = comma == std::string::npos ? list.size() + 1 : comma + 1;
      if (word.empty()) continue;
      std::string name = upper(word);
      if (name.rfind("EVENT_", 0) != 0) name.insert(0, "EVENT_");
      v1::EventType type;
      if (!v1::EventType_Parse(name, &type) || type == v1::EVENT_TYPE_UNSPECIFIED) {
        return "unknown event type '" + word + "'";
      }
      req->add_types(type);
    }
  }
  return std::nullopt;
}

std::string identityName(const v1::Identity& id) {
  if (!id.pod_name().empty()) return id.namespace_() + "/" + id.pod_name();
  if (!id.display_name().empty()) return id.display_name();
  return id.subject();
}

void addEventRow(Table& t, const v1::AuditEvent& e) {
  std::string rules;
  for (const auto& r : e.reason().rule_ids()) rules += (rules.empty() ? "" : ",") + r;
  std::string result = e.result().success()               ? "ok"
                       : !e.result().error_code().empty() ? e.result().error_code()
                                                          : "failed";
  std::string decision = e.reason().decision() == v1::DECISION_UNSPECIFIED
                             ? "-"
                             : enumWord(v1::Decision_Name(e.reason().decision()), "DECISION_");
  t.add({std::to_string(e.sequence()), formatTime(e.time()),
         enumWord(v1::EventType_Name(e.type()), "EVENT_"), identityName(e.identity()),
         e.location().resource().empty() ? "-" : e.location().resource(), decision,
         rules.empty() ? "-" : rules, result,
         e.action().statement().empty() ? e.action().detail() : e.action().statement()});
}

int runSearch(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start(
      "audit search", args,
      withOnline(filterFlags({{"limit", true, false, "page size (default 100, max 1000)"},
                              {"all-pages", false, false, "follow every page to the end"},
                              {"page-token", true, false, "continue from a previous page"}})),
      kUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::SearchAuditRequest req;
  if (auto bad = buildFilter(inv->flags(), &req)) return inv->usageError(*bad);
  if (auto l = inv->flags().get("limit")) {
    auto n = parseNumber(*l);
    if (!n || *n == 0 || *n > 1000) {
      return inv->usageError("--limit must be a number from 1 to 1000");
    }
    req.set_limit(static_cast<uint32_t>(*n));
  }
  req.set_page_token(inv->flags().getOr("page-token", ""));
  bool all = inv->flags().has("all-pages");
  v1::AuditService::Stub stub(inv->client().channel());
  Table t({"SEQ", "TIME", "TYPE", "IDENTITY", "RESOURCE", "DECISION", "RULE", "RESULT", "WHAT"});
  t.limit(3, 40);
  t.limit(8, 70);
  std::string next;
  do {
    v1::SearchAuditResponse resp;
    auto ctx = inv->context();
    grpc::Status st = stub.Search(ctx.get(), req, &resp);
    if (!st.ok()) return inv->fail(st);
    for (const auto& e : resp.events()) {
      if (inv->json()) {
        printJson(e);
      } else {
        addEventRow(t, e);
      }
    }
    next = resp.next_page_token();
    req.set_page_token(next);
  } while (all && !next.empty());
  if (!inv->json()) t.print();
  if (!next.empty()) {
    std::fprintf(stderr, "more events: --page-token %s (or --all-pages)\n", next.c_str());
  }
  return kExitOk;
}

int runExport(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start(
      "audit export", args,
      withOnline(filterFlags({{"output", true, false, "write to FILE (mode 0600) not stdout"}})),
      kUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::ExportAuditRequest req;
  if (auto bad = buildFilter(inv->flags(), req.mutable_filter())) return inv->usageError(*bad);
  FILE* out = stdout;
  std::string path = inv->flags().getOr("output", "");
  if (!path.empty()) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (out = ::fdopen(fd, "w")) == nullptr) {
      return inv->usageError(path + ": cannot write: " + std::strerror(errno));
    }
  }
  v1::AuditService::Stub stub(inv->client().channel());
  // An export runs as long as it takes unless --timeout bounds it.
  auto ctx = inv->context(inv->flags().has("timeout"));
  auto reader = stub.Export(ctx.get(), req);
  v1::AuditEvent e;
  uint64_t count = 0;
  bool write_ok = true;
  while (reader->Read(&e)) {
    std::string line = toJson(e) + "\n";
    write_ok = write_ok && std::fwrite(line.data(), 1, line.size(), out) == line.size();
    ++count;
  }
  grpc::Status st = reader->Finish();
  write_ok = std::fflush(out) == 0 && write_ok;
  if (out != stdout) write_ok = std::fclose(out) == 0 && write_ok;
  if (!st.ok()) return inv->fail(st);
  if (!write_ok) return inv->problem("write error");
  if (!path.empty()) {
    std::fprintf(stderr, "exported %llu events to %s\n", static_cast<unsigned long long>(count),
                 path.c_str());
  }
  return kExitOk;
}

int runVerify(const std::vector<std::string>& args) {
  int rc = 0;
  auto inv = Invocation::start("audit verify", args,
                               onlineFlags({{"from", true, false, "first sequence (default 1)"},
                                            {"to", true, false, "last sequence (default: end)"}}),
                               kUsage, 0, 0, &rc);
  if (!inv) return rc;
  v1::VerifyAuditRequest req;
  for (const char* key : {"from", "to"}) {
    if (auto v = inv->flags().get(key)) {
      auto n = parseNumber(*v);
      if (!n) return inv->usageError(std::string("--") + key + " must be a sequence number");
      if (std::string(key) == "from") {
        req.set_from_sequence(*n);
      } else {
        req.set_to_sequence(*n);
      }
    }
  }
  v1::AuditService::Stub stub(inv->client().channel());
  // Verifying a long chain takes a while: unbounded unless --timeout is given.
  auto ctx = inv->context(inv->flags().has("timeout"));
  v1::VerifyAuditResponse resp;
  grpc::Status st = stub.Verify(ctx.get(), req, &resp);
  if (!st.ok()) return inv->fail(st);
  if (inv->json()) {
    printJson(resp);
  } else {
    for (const auto& p : resp.problems()) {
      std::printf("sequence %llu: %s\n", static_cast<unsigned long long>(p.sequence()),
                  p.what().c_str());
    }
    std::printf(
        "%s: %llu records, %llu checkpoints checked%s\n", resp.ok() ? "ok" : "FAILED",
        static_cast<unsigned long long>(resp.records_checked()),
        static_cast<unsigned long long>(resp.checkpoints_checked()),
        resp.ok() ? "" : (", " + std::to_string(resp.problems_size()) + " problems").c_str());
  }
  return resp.ok() ? kExitOk : kExitServerError;
}

}  // namespace

int runAudit(const std::vector<std::string>& args) {
  int rc = 0;
  auto sub = subCommand(args, kUsage, &rc);
  if (!sub) return rc;
  if (sub->name == "search") return runSearch(sub->rest);
  if (sub->name == "export") return runExport(sub->rest);
  if (sub->name == "verify") return runVerify(sub->rest);
  return unknownSubCommand("audit", sub->name, kUsage);
}

}  // namespace tollgate::ctl
