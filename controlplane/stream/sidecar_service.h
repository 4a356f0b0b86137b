// SidecarService.Connect, the control plane's end of the sidecar stream: authenticates the
// workload, hands it policy, grants and credentials, takes grant and approval requests, stores
// its audit batches, and pushes every change that concerns it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "controlplane/core/control_plane.h"
// gRPC's generated callback bases hide the synchronous overload of each method by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/stream.grpc.pb.h"
#pragma GCC diagnostic pop

namespace tollgate::controlplane::stream {

struct StreamOptions {
  // Heartbeat period announced in Welcome; a stream silent for 3 periods is closed.
  uint32_t heartbeat_seconds = 5;
};

class SidecarStream;

// Protocol (see stream.proto): the first message must be Hello with a workload token
// (UNAUTHENTICATED otherwise, audited as EVENT_ACCESS_DENIED). The stream's instance is
// derived from the verified token (sidecarInstance(), never the Hello's instance_id alone);
// Welcome carries the verified identity, the current policy, the grants the pod holds, their
// credentials and the highest sequence stored for the instance (see storedThrough). Then:
//   GrantRequest   -> GrantReply (+ GrantUpdate when a pending grant is decided)
//   StatementApprovalRequest -> ApprovalDecision once decided (approved, denied, timed out)
//   AuditBatch     -> stored (identity and location.source = the instance stamped from the
//                     verified token, card data scrubbed, duplicates by (instance,
//                     source_sequence) dropped) -> AuditAck(highest sequence of the batch)
//   SessionReport  -> the session registry
//   Heartbeat      -> Heartbeat
// and, pushed: PolicyUpdate, GrantUpdate (revoked/expired), CredentialUpdate (rotated secret of
// a resource the pod holds a grant for), KillSession. One live stream per instance: a new one
// (a reconnect of the same pod) replaces the old (ABORTED). Thread-safe.
class SidecarServiceImpl final : public v1::SidecarService::CallbackService {
 public:
  SidecarServiceImpl(core::ControlPlane& core, StreamOptions options = {});
  ~SidecarServiceImpl() override;

  grpc::ServerBidiReactor<v1::SidecarMessage, v1::ControlMessage>* Connect(
      grpc::CallbackServerContext* context) override;

  // Live streams (for metrics and tests).
  size_t liveStreams() const;

 private:
  friend class SidecarStream;
  // Registers `stream` under its instance, returning the one it replaces (or null).
  SidecarStream* attach(const std::string& instance, SidecarStream* stream);
  void detach(const std::string& instance, SidecarStream* stream);
  // Every open stream, welcomed or not, from its start to OnDone: the watchdog ends those that
  // send no Hello in time (an unauthenticated stream would otherwise stay open for ever).
  void opened(SidecarStream* stream);
  void closed(SidecarStream* stream);
  void watchdog();

  core::ControlPlane& core_;
  const StreamOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, SidecarStream*> streams_;
  std::set<SidecarStream*> open_;
  std::thread watchdog_;
};

}  // namespace tollgate::controlplane::stream
