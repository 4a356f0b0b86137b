// The sidecar's end of the control-plane stream (SidecarService.Connect): identity, policy,
// grants, credentials and approvals in; audit events (spooled until acknowledged) out.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/access.h"
#include "sidecar/cp/audit_spool.h"
#include "sidecar/credentials.h"
#include "sidecar/events/event_sink.h"
#include "tollgate/v1/stream.grpc.pb.h"

namespace tollgate::sidecar::cp {

struct ClientOptions {
  std::string address;  // host:port of the control plane's gRPC endpoint
  // TLS: CA bundle that signs the control plane's certificate; empty means plaintext, which
  // the config only accepts towards a loopback address. Client certificate for mTLS (optional).
  std::string ca_file;
  std::string ca_pem;  // the same as PEM text, used when ca_file is empty
  std::string cert_file;
  std::string key_file;
  // Projected ServiceAccount token; re-read at every (re)connect, since kubelet rotates it.
  std::string token_file;
  std::string spool_dir;
  // This sidecar's label, "sidecar/<pod>": Hello.instance_id and the spooled events'
  // location.source. The control plane stores events under the instance it derives from the
  // token instead (controlplane/stream/sidecar_instance.h).
  std::string source;
  std::string pod_name, pod_namespace, pod_uid, job_name, node_name;
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{3000};
  // How long a session waits for a grant reply before it is refused.
  std::chrono::seconds grant_timeout{30};
  // How long a strict-audit (audit: sync) statement waits for its record to be acknowledged
  // before it is refused (the spool failing, a control plane that accepts but never answers).
  std::chrono::milliseconds audit_confirm_timeout{30000};
  // Unacknowledged audit bytes above which new sessions are refused (fail closed); past half as
  // much again, sessions refuse statements too (EventSink::accepting), so the spool stays
  // inside a pod's 128 MiB emptyDir.
  size_t max_backlog_bytes = 32u << 20;
};

// Callbacks into the data path. Called on the client's threads; implementations post to their
// own loops.
struct ClientHooks {
  std::function<void(policy::CompiledPolicyPtr, uint64_t version)> on_policy;
  // A grant ended (revoked, expired, denied): end the sessions using it.
  std::function<void(const std::string& grant_id, const std::string& reason)> on_grant_ended;
  std::function<void(const std::string& session_id, const std::string& reason)> on_kill;
};

// Lifecycle: create() -> start() -> (use) -> stop(). Everything else is thread-safe.
//
// Failure behaviour (PCI: fail closed, lose nothing): while the stream is down, new sessions
// that need a grant the sidecar does not hold are refused, statements held for review are
// refused, live sessions keep running until their grants end (expiry is enforced locally too),
// and audit events keep going to the disk spool; after a reconnect everything not acknowledged
// is replayed and the control plane drops duplicates by (source, source_sequence).
class ControlPlaneClient final : public EventSink, public CredentialStore, public AccessBroker {
 public:
  static absl::StatusOr<std::shared_ptr<ControlPlaneClient>> create(ClientOptions options,
                                                                    ClientHooks hooks);
  ~ControlPlaneClient() override;

  void start();
  // Sends what is queued (waits up to `grace` for acknowledgements), then closes the stream.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  // Blocks until the first Welcome arrived (true) or `timeout` passed (false).
  bool waitForWelcome(std::chrono::milliseconds timeout);
  bool connected() const { return connected_.load(); }
  // Highest event sequence the control plane has acknowledged.
  uint64_t ackedSequence() const { return acked_.load(); }

  // EventSink
  void publish(v1::AuditEvent event) override;
  // Built on the writer's thread, as the JSON-lines sink does: the data path only captures.
  void publishDeferred(DeferredEventPtr event) override;
  // Confirms once the control plane acknowledged the event; refuses at once when the stream
  // is down, and on a disconnect before the acknowledgement.
  void publishConfirmed(v1::AuditEvent event, std::function<void(bool)> done) override;
  void flush() override;
  bool accepting() const override { return !saturated_.load(); }
  // CredentialStore: what the control plane sent for the resource (memory only).
  absl::StatusOr<Credential> get(const policy::Resource& resource) override;
  // AccessBroker
  policy::Identity identity() const override;
  void acquire(const policy::CompiledPolicyPtr& policy, const std::string& resource,
               AccessCallback done) override;
  void requestApproval(const StatementApprovalRequest& request, ApprovalCallback done) override;
  void sessionStarted(const SessionSummary& session) override;
  void sessionEnded(const SessionSummary& session) override;

 private:
  using Stream = grpc::ClientReaderWriter<v1::SidecarMessage, v1::ControlMessage>;
  // Longest string value sent to the control plane; a longer one (a normalised bulk INSERT, a
  // server message) is cut, see proto::storableStrings.
  static constexpr size_t kMaxValueBytes = 64u << 10;
  struct GrantWait {
    std::string resource;
    std::vector<AccessCallback> waiters;
    std::chrono::steady_clock::time_point deadline;
  };

  ControlPlaneClient(ClientOptions options, ClientHooks hooks, AuditSpool spool,
                     std::shared_ptr<grpc::Channel> channel);

  void streamLoop();
  void writerLoop();
  bool runStream();  // one connection; true when a Welcome was received
  void onWelcome(const v1::Welcome& welcome, uint64_t generation);
  void onMessage(const v1::ControlMessage& message);
  void onGrant(const v1::Grant& grant);
  void applyPolicy(const v1::PolicyVersion& version);
  void savePolicyCache(const v1::PolicyVersion& version);
  void loadPolicyCache();
  void storeCredential(const v1::Credential& credential);
  void disconnected(const std::string& why);
  void enqueue(v1::SidecarMessage message);
  // Writes to the welcomed stream; with a generation, only if that stream is still the one.
  bool send(const v1::SidecarMessage& message, uint64_t generation = 0);
  void writeAudit();
  // Refuses the strict-audit confirmations whose deadline passed (writer thread).
  void expireConfirmations();
  bool sendAudit(const v1::SidecarMessage& batch, uint64_t generation, uint64_t last);
  void checkExpiry();
  AccessDecision decisionFor(const v1::Grant& grant) const;
  std::optional<v1::Grant> usableGrantLocked(const std::string& resource) const;

  const ClientOptions options_;
  const ClientHooks hooks_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SidecarService::Stub> stub_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> acked_{0};
  std::atomic<uint64_t> spooled_{0};  // highest sequence written to the spool
  // Backlog past max_backlog_bytes * 3 / 2, or the spool failing.
  std::atomic<bool> saturated_{false};
  // Queues `event` (mu_ held) and refuses statements from now on if that takes the backlog
  // past its limit.
  // `bytes`: the event's sizeHint(), taken before the lock.
  void enqueueLocked(DeferredEventPtr event, size_t bytes, std::function<void(bool)> confirm);
  bool overLimitLocked() const;
  bool reported_down_ = false;  // stream thread only
  std::thread stream_thread_;
  std::thread writer_thread_;

  // Stream in use (set once welcomed); writes hold write_mu_.
  std::mutex write_mu_;
  std::shared_ptr<grpc::ClientContext> context_;
  std::shared_ptr<Stream> stream_;
  uint64_t stream_generation_ = 0;  // counts welcomed streams

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool welcomed_ = false;
  // An event waiting for the writer's next pass.
  struct Incoming {
    DeferredEventPtr event;
    size_t bytes = 0;                   // its sizeHint(), counted in incoming_bytes_
    std::function<void(bool)> confirm;  // empty for plain publish()
  };
  std::vector<Incoming> incoming_;
  // By sequence, until acknowledged or the stream drops.
  std::map<uint64_t, std::function<void(bool)>> confirm_waiters_;
  // Every pending confirmation by deadline; whichever of the answer and the deadline comes
  // first settles it (ConfirmOnce).
  struct ConfirmOnce;
  std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<ConfirmOnce>>
      confirm_deadlines_;
  std::deque<v1::SidecarMessage> outgoing_;
  // The control plane acknowledges a batch by its highest sequence and means every lower one
  // too, so each stream must carry the spool in order from the first unacknowledged event.
  uint64_t welcomed_generation_ = 0;  // the stream onWelcome accepted
  uint64_t sent_generation_ = 0;      // the stream sent_through_ counts for (writer)
  uint64_t sent_through_ = 0;         // highest event sequence sent on that stream
  uint32_t heartbeat_seconds_ = 5;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point last_tx_;
  size_t backlog_bytes_ = 0;  // unacknowledged, as of the writer's last pass
  size_t backlog_events_ = 0;
  // Serialized bytes (as hinted) queued in incoming_, and taken by the writer's pass under way:
  // counted with the backlog when an event is queued, so the limit holds while a slow pass (an
  // fsync on a busy disk) lets hundreds of statements queue up behind it.
  size_t incoming_bytes_ = 0;
  // The writer builds every event into this one message (its buffers are kept).
  v1::AuditEvent built_;
  size_t in_flight_bytes_ = 0;
  bool logged_saturated_ = false;  // what the log last said; saturated_ may turn first
  bool spooling_ = false;          // the writer holds events taken from incoming_ not yet counted
  bool ack_pending_ = false;
  v1::Identity identity_;
  policy::Identity policy_identity_;
  std::map<std::string, v1::Grant> grants_;  // active, by id
  std::map<std::string, Credential> credentials_;
  uint64_t next_request_ = 1;
  std::map<uint64_t, GrantWait> grant_requests_;
  std::map<std::string, GrantWait> pending_grants_;  // by grant id, waiting for approval
  // Grants that ended (denied, revoked, expired) while no one here waited on them, by id, with
  // the reason: a GrantReply saying "pending" may still be on its way (see onMessage).
  static constexpr size_t kMaxUnawaitedEndings = 256;
  std::map<std::string, std::string> unawaited_endings_;
  std::map<uint64_t, ApprovalCallback> approvals_;

  AuditSpool spool_;  // writer thread only
  // Writer thread only: no spool write before this (after a failed one).
  std::chrono::steady_clock::time_point spool_retry_at_;
  bool spool_failing_ = false;       // writer thread only: the last spool write failed
  bool spool_read_failing_ = false;  // writer thread only: the last spool read failed
  bool more_to_send_ = false;        // writer thread only: the last pass left batches unsent
  v1::SidecarMessage batch_;         // writer thread only: reused for every audit batch
  std::string serialized_;           // writer thread only: an event's bytes for the spool
};

}  // namespace tollgate::sidecar::cp
