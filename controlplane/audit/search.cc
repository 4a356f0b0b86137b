// Search filter validation, page tokens and the SQL WHERE clause of an audit search.
#include "controlplane/audit/search.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"

namespace tollgate::controlplane::audit {
namespace {

constexpr std::string_view kTokenPrefix = "a1";
// 0001-01-01 and 9999-12-31, the range google.protobuf.Timestamp allows.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

}  // namespace

absl::StatusOr<int64_t> timestampMicros(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() < kMinSeconds || ts.seconds() > kMaxSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return absl::InvalidArgumentError("timestamp out of range");
  }
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

std::string encodePageToken(uint64_t last_sequence) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kTokenPrefix);
  for (int shift = 60; shift >= 0; shift -= 4)
    out.push_back(kDigits[(last_sequence >> shift) & 0xf]);
  return out;
}

absl::StatusOr<uint64_t> decodePageToken(std::string_view token) {
  if (token.size() != kTokenPrefix.size() + 16 || token.substr(0, 2) != kTokenPrefix) {
    return absl::InvalidArgumentError("invalid page token");
  }
  uint64_t v = 0;
  for (char c : token.substr(2)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return absl::InvalidArgumentError("invalid page token");
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return absl::InvalidArgumentError("invalid page token");
  return v;
}

std::string escapeLike(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<SearchFilter> searchFilterFromProto(const v1::SearchAuditRequest& request) {
  SearchFilter f;
  f.principal_id = request.principal_id();
  f.subject = request.subject();
  f.resource = request.resource();
  f.session_id = request.session_id();
  if (request.has_from()) {
    auto us = timestampMicros(request.from());
    if (!us.ok()) return absl::InvalidArgumentError("`from` is not a valid timestamp");
    f.from_us = *us;
  }
  if (request.has_to()) {
    auto us = timestampMicros(request.to());
    if (!us.ok()) return absl::InvalidArgumentError("`to` is not a valid timestamp");
    f.to_us = *us;
  }
  if (!v1::Decision_IsValid(request.decision())) {
    return absl::InvalidArgumentError("unknown decision");
  }
  f.decision = request.decision();
  f.rule_id = request.rule_id();
  f.text = request.text();
  for (int t : request.types()) {
    if (!v1::EventType_IsValid(t)) return absl::InvalidArgumentError("unknown event type");
    f.types.push_back(static_cast<v1::EventType>(t));
  }
  f.limit = request.limit() == 0 ? kDefaultSearchLimit
                                 : std::min<uint32_t>(request.limit(), kMaxSearchLimit);
  if (!request.page_token().empty()) {
    auto after = decodePageToken(request.page_token());
    if (!after.ok()) return after.status();
    f.after_sequence = *after;
  }
  return f;
}

SqlWhere buildWhere(const SearchFilter& f, SqlDialect dialect) {
  const bool pg = dialect == SqlDialect::kPostgres;
  SqlWhere w;
  // The placeholder of the parameter about to be added.
  auto ph = [&w, pg] { return pg ? "$" + std::to_string(w.params.size() + 1) : std::string("?"); };
  auto add = [&w](const std::string& cond) {
    if (!w.clause.empty()) w.clause += " AND ";
    w.clause += cond;
  };
  auto addText = [&](const char* column, const std::string& value) {
    if (value.empty()) return;
    add(std::string(column) + " = " + ph());
    w.params.emplace_back(value);
  };
  addText("principal_id", f.principal_id);
  addText("subject", f.subject);
  addText("resource", f.resource);
  addText("session_id", f.session_id);
  if (f.from_us) {
    add("time_us >= " + ph());
    w.params.emplace_back(*f.from_us);
  }
  if (f.to_us) {
    add("time_us < " + ph());
    w.params.emplace_back(*f.to_us);
  }
  if (f.decision != v1::DECISION_UNSPECIFIED) {
    add("decision = " + ph());
    w.params.emplace_back(static_cast<int64_t>(f.decision));
  }
  if (!f.rule_id.empty()) {
    add("seq IN (SELECT seq FROM audit_rules WHERE rule_id = " + ph() + ")");
    w.params.emplace_back(f.rule_id);
  }
  if (!f.text.empty()) {
    add(std::string(pg ? "text ILIKE " : "text LIKE ") + ph() + " ESCAPE '\\'");
    w.params.emplace_back("%" + escapeLike(f.text) + "%");
  }
  if (!f.types.empty()) {
    std::string in = "event_type IN (";
    for (size_t i = 0; i < f.types.size(); ++i) {
      in += (i == 0 ? "" : ", ") + ph();
      w.params.emplace_back(static_cast<int64_t>(f.types[i]));
    }
    add(in + ")");
  }
  if (f.after_sequence > 0) {
    add("seq > " + ph());
    w.params.emplace_back(static_cast<int64_t>(f.after_sequence));
  }
  if (w.clause.empty()) w.clause = pg ? "TRUE" : "1";
  return w;
}

}  // namespace tollgate::controlplane::audit
