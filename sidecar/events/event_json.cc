// Hand-written JSON for audit events: events are written once per statement, so this avoids
// the reflection cost of the generic protobuf JSON printer on the data path's hot loop.
#include "sidecar/events/event_json.h"

#include <chrono>

#include "common/json_writer.h"

namespace tollgate::sidecar {
namespace {

class Obj {
 public:
  explicit Obj(json::Writer& out) : out_(out) { out_.put('{'); }
  ~Obj() { out_.put('}'); }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;

  void str(std::string_view key, const std::string& v) {
    if (v.empty()) return;
    keyOut(key);
    out_.string(v);
  }
  void num(std::string_view key, uint64_t v) {
    if (v == 0) return;
    keyOut(key);
    out_.number(v);
  }
  void snum(std::string_view key, int64_t v) {
    if (v == 0) return;
    keyOut(key);
    out_.number(v);
  }
  // An enum's name, quoted (names are identifiers: nothing to escape).
  void name(std::string_view key, const std::string& v) {
    keyOut(key);
    out_.put('"');
    out_.put(v);
    out_.put('"');
  }
  void boolean(std::string_view key, bool v) {
    keyOut(key);
    out_.put(v ? std::string_view("true") : std::string_view("false"));
  }
  void time(std::string_view key, const google::protobuf::Timestamp& ts);
  void strList(std::string_view key, const google::protobuf::RepeatedPtrField<std::string>& list) {
    if (list.empty()) return;
    keyOut(key);
    out_.put('[');
    for (int i = 0; i < list.size(); ++i) {
      if (i > 0) out_.put(',');
      out_.string(list[i]);
    }
    out_.put(']');
  }
  json::Writer& out() { return out_; }
  void keyOut(std::string_view key) {
    out_.key(key, first_);
    first_ = false;
  }

 private:
  json::Writer& out_;
  bool first_ = true;
};

// "\"2026-11-25T17:40:00.123456Z\"" without printf: this runs once per event.
void Obj::time(std::string_view key, const google::protobuf::Timestamp& ts) {
  // The civil date from the day count (std::chrono's calendar): gmtime_r takes the time zone
  // lock for every call.
  using namespace std::chrono;
  const int64_t seconds = ts.seconds();
  const sys_days day{floor<days>(sys_seconds{std::chrono::seconds{seconds}})};
  const year_month_day date{day};
  const auto in_day = static_cast<int>(
      seconds - duration_cast<std::chrono::seconds>(day.time_since_epoch()).count());
  char buf[32];
  auto put = [&](int at, int value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10)
      buf[at + i] = static_cast<char>('0' + value % 10);
  };
  buf[0] = '"';
  put(1, static_cast<int>(date.year()), 4);
  buf[5] = '-';
  put(6, static_cast<int>(static_cast<unsigned>(date.month())), 2);
  buf[8] = '-';
  put(9, static_cast<int>(static_cast<unsigned>(date.day())), 2);
  buf[11] = 'T';
  put(12, in_day / 3600, 2);
  buf[14] = ':';
  put(15, in_day / 60 % 60, 2);
  buf[17] = ':';
  put(18, in_day % 60, 2);
  buf[20] = '.';
  put(21, ts.nanos() / 1000, 6);
  buf[27] = 'Z';
  buf[28] = '"';
  keyOut(key);
  out_.put(std::string_view(buf, 29));
}

}  // namespace

void appendEventJson(const v1::AuditEvent& e, std::string& out) {
  json::Writer writer(out);
  Obj o(writer);
  o.str("id", e.id());
  o.name("type", v1::EventType_Name(e.type()));
  if (e.has_time()) o.time("time", e.time());
  o.num("sourceSequence", e.source_sequence());
  if (e.has_identity()) {
    const auto& i = e.identity();
    o.keyOut("identity");
    Obj io(o.out());
    io.str("principalId", i.principal_id());
    io.str("issuer", i.issuer());
    io.str("subject", i.subject());
    io.str("namespace", i.namespace_());
    io.str("serviceAccount", i.service_account());
    io.str("podName", i.pod_name());
    io.str("podUid", i.pod_uid());
    io.str("jobName", i.job_name());
    io.str("displayName", i.display_name());
  }
  if (e.has_location()) {
    const auto& l = e.location();
    o.keyOut("location");
    Obj lo(o.out());
    lo.str("resource", l.resource());
    lo.str("protocol", l.protocol());
    lo.str("upstream", l.upstream());
    lo.str("clientAddr", l.client_addr());
    lo.str("source", l.source());
    lo.str("sessionId", l.session_id());
  }
  if (e.has_action()) {
    const auto& a = e.action();
    o.keyOut("action");
    Obj ao(o.out());
    ao.str("statement", a.statement());
    ao.str("statementClass", a.statement_class());
    ao.str("statementType", a.statement_type());
    ao.strList("objects", a.objects());
    ao.str("fingerprint", a.fingerprint());
    ao.str("detail", a.detail());
  }
  if (e.has_result()) {
    const auto& r = e.result();
    o.keyOut("result");
    Obj ro(o.out());
    ro.boolean("success", r.success());
    ro.num("rows", r.rows());
    ro.num("bytesIn", r.bytes_in());
    ro.num("bytesOut", r.bytes_out());
    ro.num("durationUs", r.duration_us());
    ro.str("errorCode", r.error_code());
    ro.str("errorMessage", r.error_message());
    ro.num("valuesMasked", r.values_masked());
  }
  if (e.has_reason()) {
    const auto& r = e.reason();
    o.keyOut("reason");
    Obj wo(o.out());
    wo.name("decision", v1::Decision_Name(r.decision()));
    wo.strList("ruleIds", r.rule_ids());
    wo.str("grantId", r.grant_id());
    wo.str("approvalId", r.approval_id());
    wo.num("policyVersion", r.policy_version());
    wo.str("message", r.message());
  }
  o.str("timeSource", e.time_source());
  o.snum("clockSkewMs", e.clock_skew_ms());
}

}  // namespace tollgate::sidecar
