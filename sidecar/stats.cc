// Sidecar metric families.
#include "sidecar/stats.h"

namespace tollgate::sidecar {

SidecarStats::SidecarStats(prometheus::Registry& registry)
    : connections_(prometheus::BuildCounter()
                       .Name("tollgate_sidecar_connections_total")
                       .Help("Client connections accepted, per resource")
                       .Register(registry)),
      active_(prometheus::BuildGauge()
                  .Name("tollgate_sidecar_active_connections")
                  .Help("Client connections open now, per resource")
                  .Register(registry)),
      statements_(prometheus::BuildCounter()
                      .Name("tollgate_sidecar_statements_total")
                      .Help("Statements decided, per resource and decision")
                      .Register(registry)),
      masked_(prometheus::BuildCounter()
                  .Name("tollgate_sidecar_values_masked_total")
                  .Help("Response values rewritten by masking rules")
                  .Register(registry)),
      rows_(prometheus::BuildCounter()
                .Name("tollgate_sidecar_rows_total")
                .Help("Result rows relayed to clients")
                .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("tollgate_sidecar_bytes_total")
                 .Help("Bytes relayed, per resource and direction")
                 .Register(registry)),
      upstream_failures_(prometheus::BuildCounter()
                             .Name("tollgate_sidecar_upstream_failures_total")
                             .Help("Upstream connect, TLS or authentication failures")
                             .Register(registry)),
      refused_(prometheus::BuildCounter()
                   .Name("tollgate_sidecar_connections_refused_total")
                   .Help("Connections refused before a session started, per reason")
                   .Register(registry)) {}

ResourceStats& SidecarStats::resource(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = resources_[name];
  if (!slot) {
    prometheus::Labels r{{"resource", name}};
    slot.reset(new ResourceStats{
        connections_.Add(r),
        active_.Add(r),
        statements_.Add({{"resource", name}, {"decision", "allow"}}),
        statements_.Add({{"resource", name}, {"decision", "block"}}),
        statements_.Add({{"resource", name}, {"decision", "review"}}),
        masked_.Add(r),
        rows_.Add(r),
        bytes_.Add({{"resource", name}, {"direction", "from_client"}}),
        bytes_.Add({{"resource", name}, {"direction", "from_upstream"}}),
        upstream_failures_.Add(r),
    });
  }
  return *slot;
}

void SidecarStats::connectionRefused(const std::string& reason) {
  std::lock_guard lock(mu_);
  refused_.Add({{"reason", reason}}).Increment();
}

}  // namespace tollgate::sidecar
