// Control-plane stream: connection, Welcome, incoming messages, the writer thread.
#include "sidecar/cp/control_plane_client.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/daemon.h"
#include "common/log.h"
#include "policy/loader.h"
#include "proto/message_strings.h"

namespace tollgate::sidecar::cp {
namespace {

absl::StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

}  // namespace

absl::StatusOr<std::shared_ptr<ControlPlaneClient>> ControlPlaneClient::create(
    ClientOptions options, ClientHooks hooks) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.ca_file.empty() && options.ca_pem.empty()) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (options.ca_file.empty()) {
      ssl.pem_root_certs = options.ca_pem;
    } else {
      auto ca = readFile(options.ca_file);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (!options.cert_file.empty()) {
      auto cert = readFile(options.cert_file);
      if (!cert.ok()) return cert.status();
      auto key = readFile(options.key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  if (options.token_file.empty()) {
    return absl::InvalidArgumentError("the control plane needs --token-file (workload token)");
  }
  auto spool = AuditSpool::open(options.spool_dir);
  if (!spool.ok()) return spool.status();
  grpc::ChannelArguments args;
  // A restarted control plane is found again quickly; a dead one is noticed by keepalives.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  auto channel = grpc::CreateCustomChannel(options.address, creds, args);
  return std::shared_ptr<ControlPlaneClient>(new ControlPlaneClient(
      std::move(options), std::move(hooks), *std::move(spool), std::move(channel)));
}

ControlPlaneClient::ControlPlaneClient(ClientOptions options, ClientHooks hooks, AuditSpool spool,
                                       std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      channel_(std::move(channel)),
      stub_(v1::SidecarService::NewStub(channel_)),
      spool_(std::move(spool)) {
  backlog_bytes_ = spool_.pendingBytes();
  backlog_events_ = spool_.pendingEvents();
  spooled_ = spool_.nextSequence() - 1;
  if (spool_.pendingEvents() > 0) {
    log::info("audit spool holds events from a previous run",
              {{"events", std::to_string(spool_.pendingEvents())}});
  }
}

ControlPlaneClient::~ControlPlaneClient() { stop(std::chrono::milliseconds(0)); }

void ControlPlaneClient::start() {
  loadPolicyCache();
  stream_thread_ = std::thread([this] { streamLoop(); });
  writer_thread_ = std::thread([this] { writerLoop(); });
}

void ControlPlaneClient::stop(std::chrono::milliseconds grace) {
  if (!stream_thread_.joinable()) return;
  if (grace.count() > 0) {
    // Give queued events a chance to reach the control plane and be acknowledged, also when
    // the stream is down now: it keeps reconnecting meanwhile.
    auto deadline = std::chrono::steady_clock::now() + grace;
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline,
                   [this] { return incoming_.empty() && !spooling_ && backlog_events_ == 0; });
    if (backlog_events_ > 0 || !incoming_.empty()) {
      log::error(
          "audit events not acknowledged at shutdown; they stay in the spool for the next "
          "sidecar that uses it (a pod's emptyDir goes with the pod)",
          {{"events", std::to_string(backlog_events_ + incoming_.size())},
           {"spool_dir", options_.spool_dir}});
    }
  }
  stopping_ = true;
  {
    std::lock_guard lock(write_mu_);
    if (context_) context_->TryCancel();
  }
  cv_.notify_all();
  stream_thread_.join();
  writer_thread_.join();
}

bool ControlPlaneClient::waitForWelcome(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return welcomed_; });
}

void ControlPlaneClient::streamLoop() {
  auto backoff = options_.reconnect_min;
  while (!stopping_) {
    bool welcomed = runStream();
    if (stopping_) break;
    if (welcomed) backoff = options_.reconnect_min;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.reconnect_max);
  }
}

bool ControlPlaneClient::runStream() {
  // Drive the channel to READY first: a fail-fast call on a channel in TRANSIENT_FAILURE
  // would otherwise abandon the connection attempt each time, and never see the control
  // plane come back.
  if (!channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2))) {
    if (connected_.load() || !reported_down_) {
      log::warn("control plane unreachable", {{"address", options_.address}});
      reported_down_ = true;
    }
    return false;
  }
  reported_down_ = false;
  auto token = readFile(options_.token_file);
  if (!token.ok()) {
    log::warn("cannot read the workload token", {{"error", std::string(token.status().message())}});
    return false;
  }
  auto context = std::make_shared<grpc::ClientContext>();
  std::shared_ptr<Stream> stream = stub_->Connect(context.get());
  {
    std::lock_guard lock(write_mu_);
    context_ = context;
  }
  if (stopping_) context->TryCancel();
  v1::SidecarMessage hello_msg;
  v1::Hello* hello = hello_msg.mutable_hello();
  hello->set_token(trim(*token));
  hello->set_pod_name(options_.pod_name);
  hello->set_pod_namespace(options_.pod_namespace);
  hello->set_pod_uid(options_.pod_uid);
  hello->set_job_name(options_.job_name);
  hello->set_node_name(options_.node_name);
  hello->set_sidecar_version(std::string(kVersion));
  hello->set_instance_id(options_.source);
  hello->set_spooled_sequence(spooled_.load());
  bool welcomed = false;
  // Whether this side ends the call. When the control plane ended it (a Read that returns
  // false), its status says why, and cancelling first would replace it with CANCELLED.
  bool ending = false;
  v1::ControlMessage in;
  if (stream->Write(hello_msg) && stream->Read(&in)) {
    if (in.has_welcome()) {
      welcomed = true;
      // Only a welcomed stream takes the writer's messages, each stream under a new
      // generation: an audit pass planned for the previous stream cannot write to this one.
      uint64_t generation;
      {
        std::lock_guard lock(write_mu_);
        stream_ = stream;
        generation = ++stream_generation_;
      }
      onWelcome(in.welcome(), generation);
      while (!stopping_ && stream->Read(&in)) onMessage(in);
      ending = stopping_;
    } else {
      log::warn("control plane answered hello without a welcome");
      ending = true;
    }
  }
  if (ending) context->TryCancel();
  grpc::Status status;
  {
    std::lock_guard lock(write_mu_);
    status = stream->Finish();
    stream_.reset();
    context_.reset();
  }
  disconnected(status.ok() ? "stream closed by the control plane" : status.error_message());
  if (!stopping_) {
    log::warn("control plane stream down",
              {{"code", std::to_string(status.error_code())}, {"error", status.error_message()}});
  }
  return welcomed;
}

void ControlPlaneClient::onWelcome(const v1::Welcome& welcome, uint64_t generation) {
  applyPolicy(welcome.policy());
  {
    std::lock_guard lock(mu_);
    identity_ = welcome.identity();
    std::vector<std::string> groups(identity_.groups().begin(), identity_.groups().end());
    policy_identity_ = policy::Identity::fromSubject(identity_.subject(), groups);
    heartbeat_seconds_ = welcome.heartbeat_seconds() > 0 ? welcome.heartbeat_seconds() : 5;
    last_rx_ = last_tx_ = std::chrono::steady_clock::now();
    grants_.clear();
    for (const auto& g : welcome.grants()) {
      if (g.state() == v1::GRANT_ACTIVE) grants_[g.id()] = g;
    }
    for (const auto& c : welcome.credentials()) {
      credentials_[c.resource()] = Credential{c.username(), c.password(), c.generation()};
    }
    if (welcome.acked_sequence() > acked_) acked_ = welcome.acked_sequence();
    welcomed_generation_ = generation;
    welcomed_ = true;
    connected_ = true;
  }
  cv_.notify_all();
  log::info("connected to the control plane",
            {{"identity", welcome.identity().subject()},
             {"policy_version", std::to_string(welcome.policy().version())},
             {"grants", std::to_string(welcome.grants_size())}});
}

void ControlPlaneClient::applyPolicy(const v1::PolicyVersion& version) {
  if (version.yaml().empty()) return;
  auto loaded = policy::loadPolicyText(
      version.yaml(), "control-plane policy v" + std::to_string(version.version()));
  if (!loaded.ok()) {
    // The control plane validated it with the same engine; keep the current policy if not.
    log::error("policy from the control plane does not load; keeping the current one",
               {{"version", std::to_string(version.version())},
                {"error", std::string(loaded.status().message())}});
    return;
  }
  if (hooks_.on_policy) hooks_.on_policy(loaded.policy, version.version());
  savePolicyCache(version);
}

// The last policy is kept next to the spool (it is not secret), so that a sidecar restarted
// while the control plane is away still knows its resources and protocols and refuses
// sessions in the client's own protocol. It grants nothing: grants are never cached.
void ControlPlaneClient::savePolicyCache(const v1::PolicyVersion& version) {
  std::string path = options_.spool_dir + "/policy.cache";
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out << version.version() << "\n" << version.yaml();
    if (!out.good()) return;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::remove(tmp.c_str());
}

void ControlPlaneClient::loadPolicyCache() {
  auto text = readFile(options_.spool_dir + "/policy.cache");
  if (!text.ok()) return;
  auto nl = text->find('\n');
  if (nl == std::string::npos) return;
  v1::PolicyVersion version;
  version.set_version(std::strtoull(text->substr(0, nl).c_str(), nullptr, 10));
  version.set_yaml(text->substr(nl + 1));
  auto loaded = policy::loadPolicyText(version.yaml(), "cached policy");
  if (!loaded.ok()) return;
  log::info("using the cached policy until the control plane answers",
            {{"version", std::to_string(version.version())}});
  if (hooks_.on_policy) hooks_.on_policy(loaded.policy, version.version());
}

void ControlPlaneClient::onMessage(const v1::ControlMessage& message) {
  {
    std::lock_guard lock(mu_);
    last_rx_ = std::chrono::steady_clock::now();
  }
  switch (message.msg_case()) {
    case v1::ControlMessage::kGrantReply: {
      const auto& reply = message.grant_reply();
      std::vector<AccessCallback> waiters;
      AccessDecision decision;
      {
        std::lock_guard lock(mu_);
        auto it = grant_requests_.find(reply.request_id());
        if (it == grant_requests_.end()) break;
        GrantWait wait = std::move(it->second);
        grant_requests_.erase(it);
        const auto& d = reply.decision();
        if (reply.has_credential()) {
          const auto& c = reply.credential();
          credentials_[c.resource()] = Credential{c.username(), c.password(), c.generation()};
        }
        if (d.outcome() == v1::GrantDecision::GRANTED && d.grant().state() == v1::GRANT_ACTIVE) {
          grants_[d.grant().id()] = d.grant();
          decision = decisionFor(d.grant());
          waiters = std::move(wait.waiters);
        } else if (d.outcome() == v1::GrantDecision::PENDING_APPROVAL) {
          // An approver can decide before this reply is written: the GrantUpdate then came
          // first, and the grant is already active here or already ended.
          const std::string& id = d.grant().id();
          auto active = grants_.find(id);
          auto ended = unawaited_endings_.find(id);
          if (active != grants_.end()) {
            decision = decisionFor(active->second);
            waiters = std::move(wait.waiters);
          } else if (ended != unawaited_endings_.end()) {
            decision.refuse_reason =
                "tollgate: access to resource " + wait.resource + " refused: " + ended->second;
            waiters = std::move(wait.waiters);
            unawaited_endings_.erase(ended);
          } else {
            log::info("grant waits for approval", {{"grant", id}, {"resource", wait.resource}});
            wait.deadline = std::chrono::steady_clock::now() + std::chrono::hours(24);
            pending_grants_[id] = std::move(wait);
          }
        } else {
          decision.refuse_reason = "tollgate: access to resource " + wait.resource + " refused: " +
                                   (d.message().empty() ? std::string("no grant") : d.message());
          waiters = std::move(wait.waiters);
        }
      }
      for (auto& w : waiters) w(decision);
      break;
    }
    case v1::ControlMessage::kGrantUpdate:
      onGrant(message.grant_update().grant());
      break;
    case v1::ControlMessage::kApprovalDecision: {
      const auto& d = message.approval_decision();
      ApprovalCallback done;
      {
        std::lock_guard lock(mu_);
        auto it = approvals_.find(d.request_id());
        if (it == approvals_.end()) break;
        done = std::move(it->second);
        approvals_.erase(it);
      }
      StatementApprovalResult r;
      r.approval_id = d.approval().id();
      r.approved = d.approval().state() == v1::APPROVAL_APPROVED;
      std::string who, why;
      for (const auto& v : d.approval().votes()) {
        if (v.approve() != r.approved) continue;
        who += (who.empty() ? "" : ", ") +
               (v.display_name().empty() ? v.principal_id() : v.display_name());
        if (!v.comment().empty()) why = v.comment();
      }
      switch (d.approval().state()) {
        case v1::APPROVAL_APPROVED:
          r.message = "approved by " + who;
          break;
        case v1::APPROVAL_DENIED:
          r.message = "denied by " + (who.empty() ? std::string("an approver") : who) +
                      (why.empty() ? "" : ": " + why);
          break;
        case v1::APPROVAL_TIMED_OUT:
          r.message = "no approver decided before the deadline";
          break;
        default:
          r.message = "the approval was cancelled";
      }
      done(std::move(r));
      break;
    }
    case v1::ControlMessage::kAuditAck: {
      uint64_t seq = message.audit_ack().sequence();
      uint64_t cur = acked_.load();
      while (seq > cur && !acked_.compare_exchange_weak(cur, seq)) {
      }
      {
        std::lock_guard lock(mu_);
        ack_pending_ = true;
      }
      cv_.notify_all();
      break;
    }
    case v1::ControlMessage::kPolicyUpdate:
      applyPolicy(message.policy_update().policy());
      break;
    case v1::ControlMessage::kCredentialUpdate:
      storeCredential(message.credential_update().credential());
      break;
    case v1::ControlMessage::kKillSession:
      if (hooks_.on_kill) {
        hooks_.on_kill(message.kill_session().session_id(), message.kill_session().reason());
      }
      break;
    default:
      break;  // heartbeats only refresh last_rx_
  }
}

void ControlPlaneClient::storeCredential(const v1::Credential& c) {
  std::lock_guard lock(mu_);
  credentials_[c.resource()] = Credential{c.username(), c.password(), c.generation()};
}

void ControlPlaneClient::disconnected(const std::string& why) {
  std::vector<AccessCallback> grant_waiters;
  std::vector<ApprovalCallback> approval_waiters;
  std::vector<std::function<void(bool)>> unconfirmed;
  {
    std::lock_guard lock(mu_);
    bool was = connected_.exchange(false);
    (void)was;
    for (auto& [id, w] : grant_requests_) {
      for (auto& cb : w.waiters) grant_waiters.push_back(std::move(cb));
    }
    grant_requests_.clear();
    for (auto& [id, w] : pending_grants_) {
      for (auto& cb : w.waiters) grant_waiters.push_back(std::move(cb));
    }
    pending_grants_.clear();
    for (auto& [id, cb] : approvals_) approval_waiters.push_back(std::move(cb));
    approvals_.clear();
    // Strict audit: records not acknowledged yet may never be (they stay spooled and are
    // replayed), so the statements waiting on them are refused rather than held.
    for (auto& [seq, cb] : confirm_waiters_) unconfirmed.push_back(std::move(cb));
    confirm_waiters_.clear();
    outgoing_.clear();
  }
  cv_.notify_all();
  AccessDecision refused;
  refused.refuse_reason = "tollgate: the control plane is unreachable (" + why +
                          "); no grant is held for this resource, so the session is refused";
  for (auto& cb : grant_waiters) cb(refused);
  for (auto& cb : approval_waiters) {
    cb({false, "", "the control plane is unreachable, so nobody can approve it"});
  }
  for (auto& cb : unconfirmed) cb(false);
}

bool ControlPlaneClient::send(const v1::SidecarMessage& message, uint64_t generation) {
  std::lock_guard lock(write_mu_);
  if (!stream_ || (generation != 0 && generation != stream_generation_)) return false;
  if (!stream_->Write(message)) {
    if (context_) context_->TryCancel();
    return false;
  }
  return true;
}

void ControlPlaneClient::enqueue(v1::SidecarMessage message) {
  // A statement for approval or a session report carries the client's bytes; one string that
  // is not UTF-8 would make the control plane refuse the message and drop the stream.
  proto::storableStrings(message, kMaxValueBytes);
  {
    std::lock_guard lock(mu_);
    outgoing_.push_back(std::move(message));
  }
  cv_.notify_all();
}

void ControlPlaneClient::writerLoop() {
  while (true) {
    std::deque<v1::SidecarMessage> out;
    bool heartbeat = false;
    {
      std::unique_lock lock(mu_);
      const bool spool_ready = std::chrono::steady_clock::now() >= spool_retry_at_;
      cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
        return stopping_ || (spool_ready && !incoming_.empty()) || !outgoing_.empty() ||
               ack_pending_ || (connected_ && sent_generation_ != welcomed_generation_) ||
               (connected_ && more_to_send_);
      });
      ack_pending_ = false;
      if (stopping_ && (incoming_.empty() || !spool_ready)) {
        // With the spool failing, what is still queued was never written anywhere: said
        // loudly, and the statements waiting on it are refused.
        std::vector<Incoming> unspooled;
        unspooled.swap(incoming_);
        lock.unlock();
        if (!unspooled.empty()) {
          log::error("audit events not spooled at shutdown (spool write failing)",
                     {{"events", std::to_string(unspooled.size())}});
        }
        for (auto& q : unspooled) {
          if (q.confirm) q.confirm(false);
        }
        break;
      }
      out.swap(outgoing_);
      auto now = std::chrono::steady_clock::now();
      if (connected_) {
        auto period = std::chrono::seconds(heartbeat_seconds_);
        heartbeat = now - last_tx_ >= period;
        if (now - last_rx_ > 3 * period) {
          // Three heartbeats without a word: the peer is gone even if TCP has not noticed.
          log::warn("control plane missed its heartbeats; reconnecting");
          std::lock_guard wlock(write_mu_);
          if (context_) context_->TryCancel();
        }
      }
    }
    writeAudit();
    for (const auto& m : out) send(m);
    if (heartbeat) {
      v1::SidecarMessage hb;
      auto now = std::chrono::system_clock::now().time_since_epoch();
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(now);
      hb.mutable_heartbeat()->mutable_sent_at()->set_seconds(secs.count());
      send(hb);
      std::lock_guard lock(mu_);
      last_tx_ = std::chrono::steady_clock::now();
    }
    checkExpiry();
    expireConfirmations();
  }
}

}  // namespace tollgate::sidecar::cp
