// SidecarService.Connect: one reactor per sidecar stream.
#include "controlplane/stream/sidecar_service.h"

#include <chrono>
#include <deque>
#include <set>

#include "common/log.h"
#include "controlplane/stream/sidecar_instance.h"

namespace tollgate::controlplane::stream {
namespace {

google::protobuf::Timestamp timestampOf(std::chrono::system_clock::time_point t) {
  google::protobuf::Timestamp ts;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  ts.set_seconds(ns / 1000000000);
  ts.set_nanos(static_cast<int32_t>(ns % 1000000000));
  return ts;
}

// The approvers the control plane's own policy names for `rule` (never the sidecar's word).
policy::Approvers approversFor(const policy::CompiledPolicy& policy, const std::string& rule) {
  const auto& doc = policy.document();
  if (rule == "parse-error") return doc.defaults.approvers;
  // The engine names guardrail rules "guardrail:<name>".
  std::string_view name = rule;
  if (name.rfind("guardrail:", 0) == 0) name.remove_prefix(10);
  for (const auto& g : doc.guardrails) {
    if (g.name == name) return g.approvers;
  }
  return doc.defaults.approvers;
}

}  // namespace

// One sidecar stream. Lives until OnDone; every callback may run on any gRPC thread.
class SidecarStream final : public grpc::ServerBidiReactor<v1::SidecarMessage, v1::ControlMessage> {
 public:
  SidecarStream(SidecarServiceImpl& service, grpc::CallbackServerContext* context)
      : service_(service), core_(service.core_), peer_(context->peer()) {
    last_rx_ = started_ = std::chrono::steady_clock::now();
    service_.opened(this);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      finish(grpc::Status::OK);
      return;
    }
    {
      std::lock_guard lock(mu_);
      last_rx_ = std::chrono::steady_clock::now();
    }
    bool keep_reading = welcomed_ ? handle(in_) : hello(in_);
    if (keep_reading) StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    out_.pop_front();
    writeNextLocked();
  }

  void OnDone() override {
    // Stop every push before the memory goes away.
    policy_sub_.reset();
    grant_sub_.reset();
    approval_sub_.reset();
    credential_sub_.reset();
    kill_sub_.reset();
    if (!instance_.empty()) service_.detach(instance_, this);
    service_.closed(this);
    log::info("sidecar stream closed", {{"instance", instance_}, {"peer", peer_}});
    delete this;
  }

  void OnCancel() override { finish(grpc::Status::CANCELLED); }

  // Called by the service (watchdog, replacement); takes only this stream's lock.
  void finish(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    finishLocked(status);
  }
  const std::string& peer() const { return peer_; }
  bool silentFor(std::chrono::steady_clock::duration d) {
    std::lock_guard lock(mu_);
    return welcomed_ && std::chrono::steady_clock::now() - last_rx_ > d;
  }
  // Open longer than `d` without being welcomed (no Hello, or one still being checked).
  bool helloOverdue(std::chrono::steady_clock::duration d) {
    std::lock_guard lock(mu_);
    return !welcomed_ && !finished_ && std::chrono::steady_clock::now() - started_ > d;
  }

 private:
  void finishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    if (writing_) {
      pending_status_ = status;  // finish after the write in flight
      finish_pending_ = true;
      return;
    }
    Finish(status);
  }

  void send(v1::ControlMessage message) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    out_.push_back(std::move(message));
    writeNextLocked();
  }

  void writeNextLocked() {
    if (writing_) return;
    if (finish_pending_) {
      finish_pending_ = false;
      Finish(pending_status_);
      return;
    }
    if (out_.empty() || finished_) return;
    writing_ = true;
    StartWrite(&out_.front());
  }

  void deny(const std::string& why) {
    v1::Identity unknown;
    unknown.set_display_name(peer_);
    (void)core_.auditor().record(v1::EVENT_ACCESS_DENIED, unknown, "",
                                 "SidecarService.Connect refused: " + why, false);
    log::warn("sidecar refused", {{"peer", peer_}, {"reason", why}});
    finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, why));
  }

  bool hello(const v1::SidecarMessage& message) {
    if (!message.has_hello()) {
      deny("the first message must be hello");
      return false;
    }
    const v1::Hello& h = message.hello();
    auto id = core_.authenticator().authenticate(h.token());
    if (!id.ok()) {
      deny(std::string(id.status().message()));
      return false;
    }
    if (id->kind() != v1::Identity::KIND_WORKLOAD) {
      deny("only workload tokens may open a sidecar stream");
      return false;
    }
    // The token's pod claims win; the downward-API values must not contradict them.
    if ((!h.pod_uid().empty() && !id->pod_uid().empty() && h.pod_uid() != id->pod_uid()) ||
        (!h.pod_name().empty() && !id->pod_name().empty() && h.pod_name() != id->pod_name())) {
      deny("hello names pod " + h.pod_name() + " but the token is bound to pod " + id->pod_name());
      return false;
    }
    if (!h.pod_namespace().empty() && !id->namespace_().empty() &&
        h.pod_namespace() != id->namespace_()) {
      deny("hello names namespace " + h.pod_namespace() + " but the token is for namespace " +
           id->namespace_());
      return false;
    }
    // The instance (audit source, de-duplication key) comes from what the token proved; the
    // Hello's instance_id is at most a label under it (sidecar_instance.h).
    instance_ = sidecarInstance(*id, h.instance_id());
    identity_ = *id;
    if (identity_.pod_name().empty()) identity_.set_pod_name(h.pod_name());
    if (identity_.job_name().empty()) identity_.set_job_name(h.job_name());

    {
      // The watchdog may have ended the stream while the token was checked (no Hello in time):
      // it must not replace a live stream of the same pod now.
      std::lock_guard lock(mu_);
      if (finished_) return false;
    }
    if (SidecarStream* old = service_.attach(instance_, this)) {
      (void)old;  // attach() already told it to finish
    }
    subscribe();

    v1::ControlMessage out;
    v1::Welcome* w = out.mutable_welcome();
    *w->mutable_identity() = identity_;
    core::PolicySnapshotPtr policy = core_.policies().current();
    if (policy) *w->mutable_policy() = policy->version;
    for (const auto& g : core_.grants().claimGrantsFor(identity_)) {
      *w->add_grants() = g;
      addCredential(policy, g.resource(), w->add_credentials());
      std::lock_guard lock(mu_);
      resources_.insert(g.resource());
    }
    // Drop empty credential slots (resources whose secrets are sidecar-local).
    auto* creds = w->mutable_credentials();
    for (int i = creds->size() - 1; i >= 0; --i) {
      if (creds->Get(i).resource().empty()) creds->DeleteSubrange(i, 1);
    }
    w->set_acked_sequence(storedThrough(h.spooled_sequence()));
    w->set_heartbeat_seconds(service_.options_.heartbeat_seconds);
    *w->mutable_server_time() = timestampOf(std::chrono::system_clock::now());
    {
      std::lock_guard lock(mu_);
      welcomed_ = true;
    }
    log::info("sidecar connected", {{"instance", instance_},
                                    {"label", h.instance_id()},
                                    {"subject", identity_.subject()},
                                    {"pod", identity_.pod_name()},
                                    {"grants", std::to_string(w->grants_size())},
                                    {"acked", std::to_string(w->acked_sequence())}});
    send(std::move(out));
    return true;
  }

  // Welcome.acked_sequence: the N such that 1..N are all stored for this instance, which the
  // sidecar takes as a cumulative acknowledgement (the store answers 0 when anything below its
  // highest is missing, as an older sidecar's replay race could leave). Unless the sidecar's
  // numbering restarted below N (its
  // spool directory, which keeps the counter, was lost while the instance stayed the same): then
  // it has spooled less than is stored, and claiming N would make it drop unsent events. 0
  // then, and when the store cannot say.
  uint64_t storedThrough(uint64_t spooled) {
    auto stored = core_.auditStore().storedThroughSequence(instance_);
    if (!stored.ok()) {
      log::warn("cannot read the stored audit sequence; welcome acknowledges nothing",
                {{"instance", instance_}, {"error", std::string(stored.status().message())}});
      return 0;
    }
    if (*stored > spooled) {
      log::error(
          "sidecar audit numbering restarted below what is stored for its instance (spool "
          "directory lost?): its events up to the stored sequence are dropped as replays",
          {{"instance", instance_},
           {"stored", std::to_string(*stored)},
           {"spooled", std::to_string(spooled)}});
      return 0;
    }
    return *stored;
  }

  void addCredential(const core::PolicySnapshotPtr& policy, const std::string& resource,
                     v1::Credential* out) {
    if (!policy) return;
    auto c = core_.credentials().forResource(*policy->compiled, resource);
    if (c.ok()) {
      *out = *c;
      out->set_resource(resource);
    } else if (!absl::IsNotFound(c.status())) {
      log::warn("credential unavailable",
                {{"resource", resource}, {"error", std::string(c.status().message())}});
    }
  }

  bool concernsMe(const v1::Grant& g) {
    if (!g.pod_uid().empty()) return g.pod_uid() == identity_.pod_uid();
    return g.subject() == identity_.subject();
  }

  void subscribe() {
    policy_sub_ = core_.policies().subscribe([this](const core::PolicySnapshotPtr& snap) {
      v1::ControlMessage m;
      *m.mutable_policy_update()->mutable_policy() = snap->version;
      send(std::move(m));
    });
    grant_sub_ = core_.grants().subscribe([this](const v1::Grant& g) {
      if (!concernsMe(g) || g.state() == v1::GRANT_PENDING) return;
      if (g.state() == v1::GRANT_ACTIVE) {
        // A grant approved after the request: its credential comes with it.
        v1::ControlMessage c;
        addCredential(core_.policies().current(), g.resource(),
                      c.mutable_credential_update()->mutable_credential());
        if (!c.credential_update().credential().resource().empty()) send(std::move(c));
        std::lock_guard lock(mu_);
        resources_.insert(g.resource());
      }
      v1::ControlMessage m;
      *m.mutable_grant_update()->mutable_grant() = g;
      send(std::move(m));
    });
    approval_sub_ = core_.approvals().subscribe([this](const v1::Approval& a) {
      if (a.state() == v1::APPROVAL_PENDING) return;
      uint64_t request_id = 0;
      {
        std::lock_guard lock(mu_);
        auto it = approval_requests_.find(a.id());
        if (it == approval_requests_.end()) return;
        request_id = it->second;
        approval_requests_.erase(it);
      }
      v1::ControlMessage m;
      m.mutable_approval_decision()->set_request_id(request_id);
      *m.mutable_approval_decision()->mutable_approval() = a;
      send(std::move(m));
    });
    credential_sub_ = core_.credentials().subscribe([this](const std::string& name) {
      core::PolicySnapshotPtr policy = core_.policies().current();
      if (!policy) return;
      std::set<std::string> resources;
      {
        std::lock_guard lock(mu_);
        resources = resources_;
      }
      for (const auto& r : resources) {
        if (core::secretNameFor(*policy->compiled, r) != name) continue;
        v1::ControlMessage m;
        addCredential(policy, r, m.mutable_credential_update()->mutable_credential());
        if (!m.credential_update().credential().resource().empty()) send(std::move(m));
      }
    });
    kill_sub_ =
        core_.sessions().subscribeKills([this](const v1::Session& s, const std::string& reason) {
          if (s.sidecar_id() != instance_) return;
          v1::ControlMessage m;
          m.mutable_kill_session()->set_session_id(s.id());
          m.mutable_kill_session()->set_reason(reason);
          send(std::move(m));
        });
  }

  bool handle(const v1::SidecarMessage& message) {
    switch (message.msg_case()) {
      case v1::SidecarMessage::kGrantRequest:
        grantRequest(message.grant_request());
        return true;
      case v1::SidecarMessage::kApprovalRequest:
        approvalRequest(message.approval_request());
        return true;
      case v1::SidecarMessage::kAudit:
        return auditBatch(message.audit());
      case v1::SidecarMessage::kHeartbeat: {
        v1::ControlMessage m;
        *m.mutable_heartbeat()->mutable_sent_at() = timestampOf(std::chrono::system_clock::now());
        send(std::move(m));
        return true;
      }
      case v1::SidecarMessage::kSession: {
        const auto& r = message.session();
        if (!r.grant_id().empty() && !identity_.pod_uid().empty()) {
          // First use of an ahead-of-time grant binds it to this pod, when it is this
          // workload's (a pod naming another's grant id is refused, and the refusal logged).
          auto bound = core_.grants().bind(r.grant_id(), identity_);
          if (!bound.ok()) {
            log::warn("session report names a grant this pod may not use",
                      {{"grant", r.grant_id()},
                       {"subject", identity_.subject()},
                       {"pod", identity_.pod_name()},
                       {"error", std::string(bound.status().message())}});
            v1::SessionReport without = r;  // the session is not recorded under that grant
            without.clear_grant_id();
            core_.sessions().report(identity_, instance_, without);
            return true;
          }
        }
        core_.sessions().report(identity_, instance_, r);
        return true;
      }
      default:
        finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "unexpected message on the sidecar stream"));
        return false;
    }
  }

  void grantRequest(const v1::GrantRequest& r) {
    if (!v1::Role_IsValid(r.role())) {
      v1::ControlMessage m;
      v1::GrantReply* reply = m.mutable_grant_reply();
      reply->set_request_id(r.request_id());
      reply->mutable_decision()->set_outcome(v1::GrantDecision::DENIED);
      reply->mutable_decision()->set_message("unknown role " + std::to_string(r.role()));
      send(std::move(m));
      return;
    }
    core::GrantRequestInput in;
    in.requester = identity_;
    in.resource = r.resource();
    in.role = r.role();
    v1::ControlMessage m;
    v1::GrantReply* reply = m.mutable_grant_reply();
    reply->set_request_id(r.request_id());
    if (auto decision = core_.grants().request(in); decision.ok()) {
      *reply->mutable_decision() = *std::move(decision);
    } else {  // nothing was issued (the audit trail cannot be written): a denial to the sidecar
      reply->mutable_decision()->set_outcome(v1::GrantDecision::DENIED);
      reply->mutable_decision()->set_message(std::string(decision.status().message()));
    }
    if (reply->decision().outcome() == v1::GrantDecision::GRANTED) {
      addCredential(core_.policies().current(), r.resource(), reply->mutable_credential());
      if (reply->credential().resource().empty()) reply->clear_credential();
      std::lock_guard lock(mu_);
      resources_.insert(r.resource());
    }
    send(std::move(m));
  }

  void approvalRequest(const v1::StatementApprovalRequest& r) {
    core::PolicySnapshotPtr policy = core_.policies().current();
    auto deny_now = [&](const std::string& why) {
      v1::ControlMessage m;
      m.mutable_approval_decision()->set_request_id(r.request_id());
      v1::Approval* a = m.mutable_approval_decision()->mutable_approval();
      a->set_state(v1::APPROVAL_CANCELLED);
      a->set_resource(r.resource());
      log::warn("statement approval refused", {{"instance", instance_}, {"reason", why}});
      send(std::move(m));
    };
    if (!policy) return deny_now("no policy");
    // Only a session on a grant holds statements for approval (the sidecar's hold_reviews): one
    // without a grant, or on a grant that is not this pod's, live, for this resource, gets none.
    if (r.grant_id().empty()) return deny_now("a statement approval needs the session's grant");
    if (!core_.grants().isUsableBy(r.grant_id(), identity_)) {
      return deny_now("grant " + r.grant_id() + " is not active for this pod");
    }
    if (auto g = core_.grants().get(r.grant_id()); !g.ok() || g->resource() != r.resource()) {
      return deny_now("grant " + r.grant_id() + " is not for resource " + r.resource());
    }
    core::StatementApprovalInput in;
    in.requester = identity_;
    in.resource = r.resource();
    in.statement = r.statement();
    in.statement_class = r.statement_class();
    in.rule = r.rule();
    in.session_id = r.session_id();
    in.grant_id = r.grant_id();
    in.approvers = approversFor(*policy->compiled, r.rule());
    // Register before creating, so a decision racing the creation is not missed.
    auto created = core_.approvals().createStatementApproval(in);
    if (!created.ok()) return deny_now(std::string(created.status().message()));
    {
      std::lock_guard lock(mu_);
      approval_requests_[created->id()] = r.request_id();
    }
    // Decided in between (e.g. zero timeout)? Then answer now.
    auto now = core_.approvals().get(created->id());
    if (now.ok() && now->state() != v1::APPROVAL_PENDING) {
      {
        std::lock_guard lock(mu_);
        if (approval_requests_.erase(created->id()) == 0) return;
      }
      v1::ControlMessage m;
      m.mutable_approval_decision()->set_request_id(r.request_id());
      *m.mutable_approval_decision()->mutable_approval() = *now;
      send(std::move(m));
    }
  }

  bool auditBatch(const v1::AuditBatch& batch) {
    if (batch.events().empty()) return true;
    std::vector<v1::AuditEvent> events;
    events.reserve(static_cast<size_t>(batch.events_size()));
    uint64_t highest = 0;
    for (const auto& e : batch.events()) {
      events.push_back(e);
      v1::AuditEvent& ev = events.back();
      // Who did it is what the token proved, not what the sidecar wrote.
      *ev.mutable_identity() = identity_;
      ev.mutable_location()->set_source(instance_);
      ev.clear_sequence();
      ev.clear_prev_hash();
      ev.clear_record_hash();
      highest = std::max(highest, ev.source_sequence());
    }
    auto result = core_.auditStore().append(events);
    if (!result.ok()) {
      // Not acknowledged: the sidecar keeps the batch spooled and sends it again.
      log::error("audit batch not stored",
                 {{"instance", instance_}, {"error", std::string(result.status().message())}});
      // A batch the store refuses as such says why; otherwise the store is down.
      if (result.status().code() == absl::StatusCode::kInvalidArgument) {
        finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "audit batch refused: " + std::string(result.status().message())));
      } else {
        finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "audit store unavailable"));
      }
      return false;
    }
    if (result->pans_scrubbed > 0) {
      log::warn("card data scrubbed from sidecar events",
                {{"instance", instance_}, {"values", std::to_string(result->pans_scrubbed)}});
    }
    v1::ControlMessage m;
    m.mutable_audit_ack()->set_sequence(highest);
    send(std::move(m));
    return true;
  }

  SidecarServiceImpl& service_;
  core::ControlPlane& core_;
  std::string peer_;
  v1::SidecarMessage in_;
  bool welcomed_ = false;  // read-side only, plus silentFor under mu_
  v1::Identity identity_;
  std::string instance_;

  std::mutex mu_;
  std::deque<v1::ControlMessage> out_;
  bool writing_ = false;
  bool finished_ = false;
  bool finish_pending_ = false;
  grpc::Status pending_status_;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point started_;
  std::set<std::string> resources_;
  std::map<std::string, uint64_t> approval_requests_;  // approval id -> sidecar request id

  core::Subscription policy_sub_;
  core::Subscription grant_sub_;
  core::Subscription approval_sub_;
  core::Subscription credential_sub_;
  core::Subscription kill_sub_;
};

SidecarServiceImpl::SidecarServiceImpl(core::ControlPlane& core, StreamOptions options)
    : core_(core), options_(options) {
  watchdog_ = std::thread([this] { watchdog(); });
}

SidecarServiceImpl::~SidecarServiceImpl() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

grpc::ServerBidiReactor<v1::SidecarMessage, v1::ControlMessage>* SidecarServiceImpl::Connect(
    grpc::CallbackServerContext* context) {
  return new SidecarStream(*this, context);
}

size_t SidecarServiceImpl::liveStreams() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

SidecarStream* SidecarServiceImpl::attach(const std::string& instance, SidecarStream* stream) {
  std::lock_guard lock(mu_);
  SidecarStream*& slot = streams_[instance];
  SidecarStream* old = slot;
  slot = stream;
  if (old != nullptr && old != stream) {
    old->finish(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer stream"));
  }
  return old;
}

void SidecarServiceImpl::detach(const std::string& instance, SidecarStream* stream) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(instance);
  if (it != streams_.end() && it->second == stream) streams_.erase(it);
}

void SidecarServiceImpl::opened(SidecarStream* stream) {
  std::lock_guard lock(mu_);
  open_.insert(stream);
}

void SidecarServiceImpl::closed(SidecarStream* stream) {
  std::lock_guard lock(mu_);
  open_.erase(stream);
}

void SidecarServiceImpl::watchdog() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    auto limit = std::chrono::seconds(3 * options_.heartbeat_seconds);
    for (auto& [instance, stream] : streams_) {
      if (stream->silentFor(limit)) {
        log::warn("sidecar missed its heartbeats", {{"instance", instance}});
        stream->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no heartbeat"));
      }
    }
    // A sidecar sends Hello first: one that does not within the heartbeat limit is gone.
    for (SidecarStream* stream : open_) {
      if (stream->helloOverdue(limit)) {
        log::warn("stream sent no hello", {{"peer", stream->peer()}});
        stream->finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no hello"));
      }
    }
  }
}

}  // namespace tollgate::controlplane::stream
