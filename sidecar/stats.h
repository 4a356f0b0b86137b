// The sidecar's Prometheus metrics, declared once; per-resource handles are cached by sessions.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/container/node_hash_map.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace tollgate::sidecar {

// Counters and gauges of one resource. References stay valid for the process lifetime, so a
// session looks them up once and then only increments (atomic, lock-free).
struct ResourceStats {
  prometheus::Counter& connections;
  prometheus::Gauge& active_connections;
  prometheus::Counter& statements_allowed;
  prometheus::Counter& statements_blocked;
  prometheus::Counter& statements_reviewed;
  prometheus::Counter& values_masked;
  prometheus::Counter& rows;
  prometheus::Counter& bytes_from_client;
  prometheus::Counter& bytes_from_upstream;
  prometheus::Counter& upstream_failures;
};

// Metric names (all prefixed tollgate_sidecar_):
//   connections_total{resource}, active_connections{resource},
//   statements_total{resource,decision}, values_masked_total{resource}, rows_total{resource},
//   bytes_total{resource,direction}, upstream_failures_total{resource},
//   connections_refused_total{reason}
// Thread-safe.
class SidecarStats {
 public:
  explicit SidecarStats(prometheus::Registry& registry);
  ResourceStats& resource(const std::string& name);
  void connectionRefused(const std::string& reason);

 private:
  prometheus::Family<prometheus::Counter>& connections_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Family<prometheus::Counter>& statements_;
  prometheus::Family<prometheus::Counter>& masked_;
  prometheus::Family<prometheus::Counter>& rows_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& upstream_failures_;
  prometheus::Family<prometheus::Counter>& refused_;
  std::mutex mu_;
  absl::node_hash_map<std::string, std::unique_ptr<ResourceStats>> resources_;
};

}  // namespace tollgate::sidecar
