// appendEventJson, the sidecar's hand-written audit JSON, read back with protobuf's own JSON
// parser: every field, escapes, and times across dates give the event they were written from.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <catch2/catch_test_macros.hpp>
#include <string>

#include "sidecar/events/event_json.h"
#include "tollgate/v1/audit.pb.h"

namespace {

tollgate::v1::AuditEvent fullEvent() {
  tollgate::v1::AuditEvent e;
  e.set_id("4ba2a89870237833-19");
  e.set_type(tollgate::v1::EVENT_STATEMENT);
  e.set_source_sequence(19);
  auto* i = e.mutable_identity();
  i->set_principal_id("system:serviceaccount:payments-ops:nightly");
  i->set_issuer("https://kubernetes.default.svc");
  i->set_subject("system:serviceaccount:payments-ops:nightly");
  i->set_namespace_("payments-ops");
  i->set_service_account("nightly");
  i->set_pod_name("nightly-x7k2p");
  i->set_pod_uid("6f1c2b7e-3d4a-4b5c-9e8f-0a1b2c3d4e5f");
  i->set_job_name("nightly");
  i->set_display_name("Nightly \"settlement\" caf\xc3\xa9");
  auto* l = e.mutable_location();
  l->set_resource("payments-db");
  l->set_protocol("postgres");
  l->set_upstream("127.0.0.1:5432");
  l->set_client_addr("127.0.0.1:51234");
  l->set_source("sidecar/nightly-x7k2p");
  l->set_session_id("4ba2a89870237833");
  auto* a = e.mutable_action();
  a->set_statement(
      "select \"Holder\" from \"Card \\ Notes\"\n\twhere note = $1 -- \x01\xe2\x82\xac");
  a->set_statement_class("read");
  a->set_statement_type("select");
  a->add_objects("cards");
  a->add_objects("Card \\ Notes");
  a->set_fingerprint("e0676ab57620d4a4");
  a->set_detail("detail");
  auto* r = e.mutable_result();
  r->set_success(true);
  r->set_rows(18446744073709551615ULL);
  r->set_bytes_in(73);
  r->set_bytes_out(112);
  r->set_duration_us(187);
  r->set_error_code("42501");
  r->set_error_message("permission denied");
  r->set_values_masked(3);
  auto* w = e.mutable_reason();
  w->set_decision(tollgate::v1::DECISION_REVIEW);
  w->add_rule_ids("role:read");
  w->add_rule_ids("block-ddl");
  w->set_grant_id("grant-7f3a9c");
  w->set_approval_id("appr-1");
  w->set_policy_version(3);
  w->set_message("approved by alice");
  e.set_time_source("system");
  e.set_clock_skew_ms(-1200);
  return e;
}

void checkRoundTrip(const tollgate::v1::AuditEvent& e) {
  std::string json;
  tollgate::sidecar::appendEventJson(e, json);
  tollgate::v1::AuditEvent back;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &back);
  INFO(json);
  REQUIRE(status.ok());
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  CHECK(differ.Compare(e, back));
  INFO(diff);
}

}  // namespace

TEST_CASE("an audit event's JSON reads back as the same event") {
  auto e = fullEvent();
  e.mutable_time()->set_seconds(1795795200);
  e.mutable_time()->set_nanos(123456000);
  checkRoundTrip(e);
}

TEST_CASE("event times are written right across dates") {
  auto e = fullEvent();
  // The epoch, the last second of a day, leap days (2000 is a leap year, 2100 is not), the
  // end of a year, and protobuf's last valid second.
  for (int64_t seconds :
       {int64_t{0}, int64_t{86399}, int64_t{951782400}, int64_t{951868799}, int64_t{4107542399},
        int64_t{4107542400}, int64_t{1798761599}, int64_t{253402300799}}) {
    for (int32_t micros : {0, 1, 999999}) {
      e.mutable_time()->set_seconds(seconds);
      e.mutable_time()->set_nanos(micros * 1000);
      INFO(seconds << "." << micros);
      checkRoundTrip(e);
    }
  }
}

TEST_CASE("an event with only some fields leaves the others out") {
  tollgate::v1::AuditEvent e;
  e.set_type(tollgate::v1::EVENT_SESSION_START);
  e.mutable_result()->set_success(false);
  checkRoundTrip(e);
  std::string json;
  tollgate::sidecar::appendEventJson(e, json);
  CHECK(json == R"({"type":"EVENT_SESSION_START","result":{"success":false}})");
}
