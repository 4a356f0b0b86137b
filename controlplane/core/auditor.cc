// Control-plane audit records: common fields filled in, appended synchronously.
#include "controlplane/core/auditor.h"

#include <chrono>

#include "common/log.h"
#include "controlplane/core/ids.h"

namespace tollgate::controlplane::core {

absl::Status Auditor::record(v1::AuditEvent event) {
  if (event.id().empty()) event.set_id(newUuid());
  if (!event.has_time()) {
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_->now().time_since_epoch())
            .count();
    event.mutable_time()->set_seconds(us / 1000000);
    event.mutable_time()->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
  }
  event.mutable_location()->set_source(source_);
  if (event.time_source().empty()) event.set_time_source("system");
  if (store_ == nullptr) {
    log::debug("audit event (no store)", {{"type", v1::EventType_Name(event.type())}});
    return absl::OkStatus();
  }
  auto result = store_->append({event});
  if (!result.ok()) {
    log::error("audit append failed", {{"type", v1::EventType_Name(event.type())},
                                       {"error", std::string(result.status().message())}});
    return result.status();
  }
  return absl::OkStatus();
}

namespace {

// A failed append, as the administrative action it refuses reports it.
absl::Status required(absl::Status appended) {
  if (appended.ok()) return appended;
  return absl::UnavailableError("the audit trail cannot be written (" +
                                std::string(appended.message()) + ")");
}

}  // namespace

absl::Status Auditor::recordRequired(v1::AuditEvent event) {
  return required(record(std::move(event)));
}

absl::Status Auditor::recordRequired(v1::EventType type, const v1::Identity& who,
                                     const std::string& resource, const std::string& detail,
                                     bool success, const std::string& grant_id,
                                     const std::string& approval_id, const std::string& rule) {
  return required(record(type, who, resource, detail, success, grant_id, approval_id, rule));
}

absl::Status Auditor::record(v1::EventType type, const v1::Identity& who,
                             const std::string& resource, const std::string& detail, bool success,
                             const std::string& grant_id, const std::string& approval_id,
                             const std::string& rule) {
  v1::AuditEvent e;
  e.set_type(type);
  *e.mutable_identity() = who;
  e.mutable_location()->set_resource(resource);
  e.mutable_action()->set_detail(detail);
  e.mutable_result()->set_success(success);
  if (!grant_id.empty()) e.mutable_reason()->set_grant_id(grant_id);
  if (!approval_id.empty()) e.mutable_reason()->set_approval_id(approval_id);
  if (!rule.empty()) e.mutable_reason()->add_rule_ids(rule);
  return record(std::move(e));
}

}  // namespace tollgate::controlplane::core
