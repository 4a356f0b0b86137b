// Appends control-plane events (policy, grant, approval, access) to the audit store.
#pragma once

#include <string>

#include "common/clock.h"
#include "controlplane/audit/audit_store.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::controlplane::core {

// Fills the fields every control-plane record needs and appends it. Thread-safe as the store.
class Auditor {
 public:
  // `store` may be null (events are then only logged at debug level); it must outlive this.
  Auditor(audit::AuditStore* store, ClockPtr clock, std::string replica_name)
      : store_(store), clock_(std::move(clock)), source_("controlplane/" + replica_name) {}

  // Sets id (new UUID) when empty, time (clock now, UTC) when unset, location.source,
  // time_source "system", and result.success default left as given. Appends synchronously;
  // an append failure is logged (never with secrets) and returned.
  absl::Status record(v1::AuditEvent event);

  // Convenience: one event of `type` by `who` about `resource` with `detail` (Action.detail),
  // success flag and optional reason fields.
  absl::Status record(v1::EventType type, const v1::Identity& who, const std::string& resource,
                      const std::string& detail, bool success, const std::string& grant_id = "",
                      const std::string& approval_id = "", const std::string& rule = "");

  // For administrative actions, whose record must be written before the change is applied
  // (PCI DSS 10.2): as record(), but a failed append is UNAVAILABLE "the audit trail cannot be
  // written (<cause>)" whatever the store's code, so callers refuse the change with it.
  absl::Status recordRequired(v1::AuditEvent event);
  absl::Status recordRequired(v1::EventType type, const v1::Identity& who,
                              const std::string& resource, const std::string& detail, bool success,
                              const std::string& grant_id = "", const std::string& approval_id = "",
                              const std::string& rule = "");

  const std::string& source() const { return source_; }
  audit::AuditStore* store() const { return store_; }

 private:
  audit::AuditStore* store_;
  ClockPtr clock_;
  std::string source_;
};

}  // namespace tollgate::controlplane::core
