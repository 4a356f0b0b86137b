// Shared set-up for the sidecar-against-real-PostgreSQL tests: one server per test binary, a
// standard policy, a sidecar process in standalone mode, and client/JSON/PAN helpers.
#pragma once

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "tests/support/pg_server.h"
#include "tests/support/test_support.h"

namespace tollgate::testing {

// Subjects: the policy grants the first read, the second write, the third admin, the last
// nothing.
inline constexpr char kCiSubject[] = "system:serviceaccount:payments-ci:nightly";
inline constexpr char kOpsSubject[] = "system:serviceaccount:payments-ops:deploy";
inline constexpr char kDbaSubject[] = "system:serviceaccount:payments-dba:migrate";
inline constexpr char kStrangerSubject[] = "system:serviceaccount:marketing:report";
inline constexpr char kApprovalSubject[] = "system:serviceaccount:payments-fix:repair";
inline constexpr char kSystemPython[] = "/usr/bin/python3";
// The error of a write refused because it would store masked data where it is read unmasked.
inline constexpr char kCopyRefused[] = "42501: blocked by rule \"masking:copy\"";

// The server every test of one binary shares, seeded with createPaymentsFixture() on first use
// and stopped when the binary exits.
inline PgServer& sharedPg() {
  static PgServer pg;
  static const bool seeded = (pg.createPaymentsFixture("apppw"), true);
  (void)seeded;
  return pg;
}

struct PolicyOptions {
  std::string upstream_ca;  // empty: the CA that signed the server's certificate
  std::string credential = "app:apppw";
  bool guardrails = true;         // the no-ddl and unbounded-delete guardrails
  bool column_rules = true;       // the cvv column-name masking rule (besides the detector)
  std::string keep_number_types;  // masking.keepNumberTypes as a YAML list, when not empty
  int upstream_port = 0;          // the resource's port when not 0 (else the server's)
  std::string upstream_tls = "verify-full";  // "disable" for a test's own plain server
  // When not 0: a second resource, scripted-db, in clear at this port of 127.0.0.1 (a test's own
  // server), granted like payments-db. Serve it with --listen ...=scripted-db.
  int scripted_port = 0;
  std::string defaults;  // the policy's `defaults` mapping as YAML flow, when not empty
};

struct SidecarOptions {
  std::string subject = kCiSubject;
  bool client_tls = false;  // --client-tls-ca/--client-tls-ca-key with the server's test CA
  PolicyOptions policy;
  bool events = true;                   // --events FILE in the sidecar's temp dir
  std::vector<std::string> extra_args;  // more command-line flags
};

// A sidecar for a job with a write grant.
inline SidecarOptions writeGrant() {
  SidecarOptions o;
  o.subject = kOpsSubject;
  return o;
}

// A sidecar for the admin subject with no guardrails: its DDL runs (copies are still judged,
// for every role).
inline SidecarOptions adminGrant() {
  SidecarOptions o;
  o.subject = kDbaSubject;
  o.policy.guardrails = false;
  return o;
}

// The standard policy of these tests (resource payments-db in front of `pg`).
inline std::string standardPolicy(const PgServer& pg, const std::string& cred_file,
                                  const PolicyOptions& o) {
  std::string ca = o.upstream_ca.empty() ? pg.pki().ca_cert : o.upstream_ca;
  std::string y = "version: 1\n" +
                  (o.defaults.empty() ? std::string() : "defaults: " + o.defaults + "\n") +
                  "resources:\n"
                  "  - name: payments-db\n"
                  "    protocol: postgres\n"
                  "    upstream: {host: 127.0.0.1, port: " +
                  std::to_string(o.upstream_port != 0 ? o.upstream_port : pg.port()) +
                  ", tls: " + o.upstream_tls + ", ca: " + ca +
                  ", serverName: localhost}\n"
                  "    credentials: {file: " +
                  cred_file +
                  "}\n"
                  "    database: payments\n";
  std::string granted = "payments-db";
  if (o.scripted_port != 0) {
    y += "  - name: scripted-db\n"
         "    protocol: postgres\n"
         "    upstream: {host: 127.0.0.1, port: " +
         std::to_string(o.scripted_port) +
         ", tls: disable}\n"
         "    credentials: {file: " +
         cred_file +
         "}\n"
         "    database: payments\n";
    granted += ", scripted-db";
  }
  y += "access:\n"
       "  - {name: ci-read, subjects: [{serviceAccount: \"payments-ci/*\"}], "
       "resources: [" +
       granted +
       "], role: read}\n"
       "  - {name: ops-write, subjects: [{serviceAccount: \"payments-ops/*\"}], "
       "resources: [" +
       granted +
       "], role: write}\n"
       "  - {name: dba-admin, subjects: [{serviceAccount: \"payments-dba/*\"}], "
       "resources: [" +
       granted +
       "], role: admin}\n"
       "  - {name: fix-write, subjects: [{serviceAccount: \"payments-fix/*\"}], "
       "resources: [" +
       granted + "], role: write, approval: required}\n";
  if (o.guardrails) {
    y += "guardrails:\n"
         "  - {name: no-ddl, match: {class: [ddl]}, action: block, "
         "message: \"DDL is not allowed from jobs\"}\n"
         "  - {name: unbounded-delete, match: {statement: [delete, update], where: absent}, "
         "action: review}\n";
  }
  y += "masking:\n"
       "  rules:\n"
       "    - {name: pan, detector: pan, action: {type: pci, keepFirst: 6, keepLast: 4}}\n";
  if (o.column_rules) y += "    - {name: cvv, columns: [\"cvv\", \"cvc*\"], action: redact}\n";
  if (!o.keep_number_types.empty()) y += "  keepNumberTypes: " + o.keep_number_types + "\n";
  return y;
}

// A test script's report: one "key<TAB>value" line per check (later lines win).
inline std::map<std::string, std::string> parseReport(const std::string& out) {
  std::map<std::string, std::string> report;
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  for (const auto& line : lines) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    report[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return report;
}

// A report's value for `key`, "<missing>" when the script never printed it.
inline std::string at(const std::map<std::string, std::string>& report, const std::string& key) {
  auto it = report.find(key);
  return it == report.end() ? std::string("<missing>") : it->second;
}

// A string / number inside an event by JSON pointer ("/result/rows"); "" / 0 when absent.
inline std::string jstr(const nlohmann::json& e, const std::string& pointer) {
  nlohmann::json::json_pointer p(pointer);
  return e.contains(p) && e[p].is_string() ? e[p].get<std::string>() : std::string();
}
inline long jnum(const nlohmann::json& e, const std::string& pointer) {
  nlohmann::json::json_pointer p(pointer);
  return e.contains(p) && e[p].is_number() ? e[p].get<long>() : 0;
}
inline bool jbool(const nlohmann::json& e, const std::string& pointer) {
  nlohmann::json::json_pointer p(pointer);
  return e.contains(p) && e[p].is_boolean() && e[p].get<bool>();
}

inline std::string readWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A tollgate-sidecar in standalone mode with one listener for payments-db on a free port, its
// own temp dir (policy, credential file, events file, log). Killed on destruction.
class Sidecar {
 public:
  explicit Sidecar(const PgServer& pg, const SidecarOptions& o = {}) : port_(freePort()) {
    auto cred = dir_.write("cred", o.policy.credential);
    auto policy = dir_.write("policy.yaml", standardPolicy(pg, cred, o.policy));
    events_ = (dir_.path() / "events.jsonl").string();
    ca_ = pg.pki().ca_cert;
    std::vector<std::string> argv = {binPath("tollgate-sidecar"),
                                     "--policy",
                                     policy,
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port_) + "=payments-db",
                                     "--subject",
                                     o.subject,
                                     "--admin-port",
                                     "0"};
    if (o.events) argv.insert(argv.end(), {"--events", events_});
    if (o.client_tls) {
      argv.insert(argv.end(),
                  {"--client-tls-ca", pg.pki().ca_cert, "--client-tls-ca-key", pg.pki().ca_key});
    }
    argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
    proc_ = std::make_unique<Process>(argv, (dir_.path() / "sidecar.log").string());
    ready_ = waitPort(port_, std::chrono::seconds(15));
    if (!ready_) std::fprintf(stderr, "tollgate-sidecar did not start:\n%s\n", log().c_str());
  }

  bool ready() const { return ready_; }
  int port() const { return port_; }
  pid_t pid() const { return proc_->pid(); }
  bool running() { return proc_->running(); }
  // Sends `sig` and waits up to `timeout` for the exit; its code (-signal), nullopt on timeout.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout) {
    return proc_->stop(sig, timeout);
  }
  const TempDir& dir() const { return dir_; }
  const std::string& caCert() const { return ca_; }
  std::string log() const { return proc_->log(); }
  std::string eventsText() const { return readWholeFile(events_); }

  // The events file, one parsed object per line (unparsable lines become {"unparsable": text}).
  std::vector<nlohmann::json> events() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(eventsText());
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      out.push_back(j.is_discarded() ? nlohmann::json{{"unparsable", line}} : j);
    }
    return out;
  }

  // libpq connection string for this sidecar; `extra` is appended (default: no TLS).
  std::string conninfo(const std::string& extra = "sslmode=disable") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " dbname=payments user=job password=job-has-no-secret connect_timeout=10 " + extra;
  }

  // psql through the sidecar, `sql` on stdin: -X -At, errors with SQLSTATE (VERBOSITY
  // verbose), no ON_ERROR_STOP unless asked, so later statements still run.
  RunResult psql(const std::string& sql, const std::vector<std::string>& flags = {},
                 const std::string& extra = "sslmode=disable") const {
    std::vector<std::string> argv = {"psql", "-X", "-At", "-v", "VERBOSITY=verbose"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"-d", conninfo(extra), "-f", "-"});
    return run(argv, sql, std::chrono::seconds(60));
  }

  // Runs a /usr/bin/python3 script (written to the sidecar's temp dir) with the connection
  // string as argv[1] followed by `args`.
  RunResult python(const std::string& script, const std::vector<std::string>& args = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    auto path = dir_.write("script-" + std::to_string(++scripts_) + ".py", script);
    std::vector<std::string> argv = {kSystemPython, path, conninfo()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", timeout);
  }

  // Polls the events file until `pred` holds for some event, up to `timeout`.
  template <typename Pred>
  bool waitForEvent(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      for (const auto& e : events()) {
        if (pred(e)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

 private:
  TempDir dir_;
  int port_;
  std::string events_;
  std::string ca_;
  std::unique_ptr<Process> proc_;
  bool ready_ = false;
  mutable int scripts_ = 0;
};

// How many times `needle` occurs in `haystack`.
inline int countOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

// PCI display mask of a card number as the policy's pan rule writes it: the first 6 and last 4
// digits kept, every other digit '*', separators kept.
inline std::string pciMasked(const std::string& pan) {
  int digits = 0;
  for (char c : pan) digits += (c >= '0' && c <= '9');
  std::string out;
  int seen = 0;
  for (char c : pan) {
    if (c >= '0' && c <= '9') {
      ++seen;
      out += (seen <= 6 || seen > digits - 4) ? c : '*';
    } else {
      out += c;
    }
  }
  return out;
}

inline bool luhnOk(const std::string& digits) {
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (dbl) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

// Every Luhn-valid run of 13-19 digits in `text`, where a run is a maximal sequence of digits
// optionally joined by single spaces or dashes (the way card numbers are written). With
// `standalone`, only runs with no letter or digit right before or after them (not the tail of
// a hex id such as an event id "4ba2a89870237833-19").
inline std::vector<std::string> luhnRuns(const std::string& text, bool standalone = false) {
  auto alnum = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; };
  std::vector<std::string> found;
  size_t i = 0;
  while (i < text.size()) {
    if (!(text[i] >= '0' && text[i] <= '9') || (standalone && i > 0 && alnum(text[i - 1]))) {
      ++i;
      continue;
    }
    std::string digits;
    size_t j = i;
    while (j < text.size()) {
      if (text[j] >= '0' && text[j] <= '9') {
        digits += text[j++];
      } else if ((text[j] == ' ' || text[j] == '-') && j + 1 < text.size() && text[j + 1] >= '0' &&
                 text[j + 1] <= '9') {
        ++j;
      } else {
        break;
      }
    }
    const bool alone = !standalone || j == text.size() || !alnum(text[j]);
    if (alone && digits.size() >= 13 && digits.size() <= 19 && luhnOk(digits)) {
      found.push_back(digits);
    }
    i = j;
  }
  return found;
}

// Sample card numbers (as typed, and digits only) that occur in `text`.
inline std::vector<std::string> sampleSecretsIn(const std::string& text) {
  std::vector<std::string> found;
  for (const auto& c : sampleCards()) {
    for (const auto& s : {c.pan, c.pan_vc}) {
      if (text.find(s) != std::string::npos) found.push_back(s);
    }
  }
  return found;
}

// Python prelude for raw protocol v3 clients (prepend it to a script run by Sidecar::python):
// `s` is a socket to the sidecar of argv[1] (its conninfo); msg(type, body) frames a message,
// z(text) makes a C string, read_message() returns the next (type, body), read_to_end() all
// of them until the connection closes, and startup(user, database) logs in and reads up to the
// first ReadyForQuery.
inline constexpr char kPyRawWire[] = R"PY(
import json, re, socket, struct, sys
s = socket.create_connection(
    ("127.0.0.1", int(re.search(r"port=(\d+)", sys.argv[1]).group(1))), timeout=20)
buf = b""
def msg(t, body): return t + struct.pack("!I", len(body) + 4) + body
def z(text): return text.encode() + b"\0"
def read_message():
    global buf
    while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
        chunk = s.recv(65536)
        if not chunk: raise SystemExit("connection closed")
        buf += chunk
    n = struct.unpack("!I", buf[1:5])[0]
    t, body, buf = buf[:1], buf[5:1 + n], buf[1 + n:]
    return t, body
def startup(user, database):
    params = z("user") + z(user) + z("database") + z(database) + b"\0"
    s.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
    while read_message()[0] != b"Z": pass
def ready():  # reads up to ReadyForQuery, printing each ErrorResponse
    while True:
        t, body = read_message()
        if t == b"E": print(body.decode(errors="replace"))
        if t == b"Z": return
def read_to_end():  # every (type, body) until the sidecar closes the connection
    got = []
    while True:
        try:
            got.append(read_message())
        except SystemExit:
            return got
)PY";

// `text` with every hex identifier (a token of 12+ hex digits with at least one letter a-f,
// such as the "4ba2a89870237833" of event id "4ba2a89870237833-19") replaced by '#'s: the digit
// runs inside ids are not card numbers, while a card number glued to other text still is.
inline std::string withoutHexIds(std::string text) {
  auto hex = [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'); };
  auto alnum = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; };
  size_t i = 0;
  while (i < text.size()) {
    if (!hex(text[i]) || (i > 0 && alnum(text[i - 1]))) {
      ++i;
      continue;
    }
    size_t j = i;
    bool letter = false;
    for (; j < text.size() && hex(text[j]); ++j) letter = letter || text[j] >= 'a';
    if (letter && j - i >= 12 && (j == text.size() || !alnum(text[j]))) {
      std::fill(text.begin() + static_cast<std::ptrdiff_t>(i),
                text.begin() + static_cast<std::ptrdiff_t>(j), '#');
    }
    i = j;
  }
  return text;
}

// Card numbers found in a sidecar's events file and log (Luhn-valid 13-19 digit runs outside
// hex ids, and the sample cards in any form): PCI DSS 3.5.1 wants none.
inline std::vector<std::string> cardNumbersInAuditAndLog(const Sidecar& s) {
  std::string all = s.eventsText() + s.log();
  auto found = luhnRuns(withoutHexIds(all));
  for (auto& f : sampleSecretsIn(all)) found.push_back(f);
  return found;
}

// The high-water mark of a process's resident set (VmHWM) in KiB, 0 when unreadable.
inline long vmHwmKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace tollgate::testing
