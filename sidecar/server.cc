// Sidecar process lifecycle on the main libuv loop.
#include "sidecar/server.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <future>

#include "absl/strings/str_join.h"
#include "common/daemon.h"
#include "common/log.h"
#include "policy/loader.h"
#include "sidecar/config_checks.h"
#include "sidecar/events/json_lines_sink.h"

namespace tollgate::sidecar {
namespace {

// What the files the config names gave (a CA that is missing or not PEM, ...): a configuration
// error whichever layer found it, so the exit code (2) does not depend on that.
absl::Status configError(const absl::Status& st) {
  return absl::InvalidArgumentError(st.message());
}

}  // namespace

Server::Server(SidecarConfig config)
    : config_(std::move(config)), registry_(std::make_shared<prometheus::Registry>()) {
  uv_loop_init(&loop_);
  loop_.data = this;
}

Server::~Server() {
  if (admin_) admin_->stop();
  listeners_.clear();
  if (connections_) connections_->drainAndStop(std::chrono::seconds(0));
  if (control_plane_) control_plane_->stop(std::chrono::milliseconds(0));
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Server::loadPolicy(std::function<void(absl::Status)> done) {
  auto loaded = policy::loadPolicyFile(config_.policy_file);
  for (const auto& w : loaded.warnings) log::warn("policy warning", {{"detail", w}});
  if (!loaded.ok()) {
    done(loaded.status());
    return;
  }
  policy::CompiledPolicyPtr current = connections_->policy();
  policy::CompiledPolicyPtr pending;
  {
    std::lock_guard lock(pending_mu_);
    pending = pending_policy_;
  }
  // Against the policy in force, and against one still waiting for DNS: installed after it,
  // this one must not drop what that one masks either.
  for (const auto& before : {current, pending}) {
    if (std::string why = policy::maskingDropped(before.get(), *loaded.policy); !why.empty()) {
      done(absl::FailedPreconditionError(why));
      return;
    }
  }
  PolicyFit fit = checkPolicyFit(*loaded.policy, config_.listeners, /*standalone=*/true);
  if (current == nullptr && !fit.errors.empty()) {
    // A mistake of the command line, not of the moment: nothing would ever be served there.
    done(absl::InvalidArgumentError(absl::StrJoin(fit.errors, "; ")));
    return;
  }
  const uint64_t version = ++policy_version_;
  policy::CompiledPolicyPtr next = loaded.policy;
  {
    std::lock_guard lock(pending_mu_);
    pending_policy_ = next;
  }
  // Installed once its names are resolved (off this loop); the rest follows only if it is.
  connections_->setPolicy(
      next, version,
      [this, next, version, fit = std::move(fit), done = std::move(done)](const absl::Status& st) {
        {
          std::lock_guard lock(pending_mu_);
          if (pending_policy_ == next) pending_policy_ = nullptr;
        }
        if (st.ok()) {
          policy_loaded_ = true;
          log::info("policy loaded",
                    {{"file", config_.policy_file},
                     {"version", std::to_string(version)},
                     {"resources", std::to_string(next->document().resources.size())}});
          logPolicyFit(fit, version);
        }
        done(st);
      });
}

void Server::logPolicyFit(const PolicyFit& fit, uint64_t version) {
  for (const auto& e : fit.errors) {
    log::error("listener cannot be served: its connections are refused",
               {{"detail", e}, {"version", std::to_string(version)}});
  }
  for (const auto& w : fit.warnings) {
    log::warn("policy warning", {{"detail", w}, {"version", std::to_string(version)}});
  }
}

absl::Status Server::startControlPlaneClient() {
  const auto& link = config_.control_plane;
  cp::ClientOptions o;
  o.address = link.address;
  o.ca_file = link.ca;
  o.ca_pem = link.ca_pem;
  o.cert_file = link.cert;
  o.key_file = link.key;
  o.token_file = link.token_file;
  o.spool_dir = link.spool_dir;
  o.max_backlog_bytes = link.max_audit_backlog_bytes;
  o.source = eventSource(config_);
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v == nullptr ? "" : v);
  };
  o.pod_name = env("POD_NAME");
  o.pod_namespace = env("POD_NAMESPACE");
  o.pod_uid = env("POD_UID");
  o.job_name = env("JOB_NAME");
  o.node_name = env("NODE_NAME");
  cp::ClientHooks hooks;
  // The hooks run on the client's threads; the connection manager is thread-safe.
  hooks.on_policy = [this](const policy::CompiledPolicyPtr& p, uint64_t version) {
    connections_->setPolicy(p, version, [this, p, version](const absl::Status& st) {
      if (st.ok()) {
        policy_loaded_ = true;
        log::info("policy from the control plane", {{"version", std::to_string(version)}});
        logPolicyFit(checkPolicyFit(*p, config_.listeners, /*standalone=*/false), version);
      } else if (!absl::IsCancelled(st)) {
        log::error("policy from the control plane refused; keeping the current policy",
                   {{"version", std::to_string(version)}, {"error", std::string(st.message())}});
      }
    });
  };
  hooks.on_grant_ended = [this](const std::string& grant, const std::string& reason) {
    connections_->endSessionsOnGrant(grant, reason);
  };
  hooks.on_kill = [this](const std::string& session, const std::string& reason) {
    connections_->killSession(session, reason);
  };
  auto client = cp::ControlPlaneClient::create(std::move(o), std::move(hooks));
  if (!client.ok()) return configError(client.status());
  control_plane_ = *client;
  return absl::OkStatus();
}

absl::Status Server::start() {
  registerBuildInfo(*registry_, "sidecar");
  stats_ = std::make_unique<SidecarStats>(*registry_);
  if (!config_.control_plane.address.empty()) {
    if (auto st = startControlPlaneClient(); !st.ok()) return st;
    connections_ = std::make_unique<ConnectionManager>(config_, *stats_, control_plane_,
                                                       control_plane_, control_plane_);
    if (auto st = connections_->start(); !st.ok()) return configError(st);
    control_plane_->start();
    if (!control_plane_->waitForWelcome(
            std::chrono::seconds(config_.control_plane.connect_timeout_seconds))) {
      // Keep going: connections are refused (fail closed) until the stream is up.
      log::warn("no answer from the control plane yet; refusing sessions until it answers",
                {{"control_plane", config_.control_plane.address}});
    }
    return startListeners();
  }
  EventSinkPtr events;
  if (!config_.events_file.empty()) {
    auto sink = JsonLinesSink::open(config_.events_file);
    if (!sink.ok()) return sink.status();
    events = *sink;
  } else if (!config_.policy_file.empty()) {
    log::warn(
        "no --events file: audit events are not recorded, and with audit: sync every "
        "statement is refused");
  }
  // Credentials come from the files the policy names (standalone mode), as each session's
  // policy snapshot names them; the store re-reads a changed file on its own.
  connections_ = std::make_unique<ConnectionManager>(
      config_, *stats_, events, std::make_shared<FileCredentialStore>(),
      std::make_shared<LocalAccessBroker>(config_.identity.subject, config_.identity.groups));
  if (auto st = connections_->start(); !st.ok()) return configError(st);
  if (!config_.policy_file.empty()) {
    // Nothing is served before the first policy is in (its names resolved): wait for it.
    std::promise<absl::Status> loaded;
    std::future<absl::Status> result = loaded.get_future();
    loadPolicy([&loaded](absl::Status st) { loaded.set_value(std::move(st)); });
    if (auto st = result.get(); !st.ok()) {
      // Whatever refused it (its text, two resources claiming one destination, a listener it
      // cannot serve), the first policy not loading is a configuration error.
      std::string why(st.message());
      if (why.rfind(config_.policy_file, 0) != 0) why = config_.policy_file + ": " + why;
      return absl::InvalidArgumentError(why);
    }
  }
  return startListeners();
}

absl::Status Server::startListeners() {
  for (const auto& l : config_.listeners) {
    auto listener = Listener::create(&loop_, l.address, l.port, false,
                                     [this, resource = l.resource](AcceptedSocket s) {
                                       connections_->accept(std::move(s), resource);
                                     });
    if (!listener.ok()) return listener.status();
    log::info("listening",
              {{"address", (*listener)->address().toString()}, {"resource", l.resource}});
    if (!isLoopbackHost(l.address)) {
      // Whoever reaches it uses the resource as this sidecar's identity, with the credentials
      // the sidecar injects: the job's loopback is the boundary a sidecar is made for.
      log::warn(
          "explicit listener on an address other hosts can reach: anyone who connects "
          "gets this sidecar's access to the resource and its injected credentials",
          {{"address", (*listener)->address().toString()}, {"resource", l.resource}});
    }
    listeners_.push_back(*std::move(listener));
  }
  if (config_.transparent.enabled) {
    auto on_accept = [this](AcceptedSocket s) { connections_->accept(std::move(s), ""); };
    auto listener = Listener::create(&loop_, config_.transparent.address, config_.transparent.port,
                                     true, on_accept);
    if (!listener.ok()) return listener.status();
    log::info("listening (transparent)", {{"address", (*listener)->address().toString()}});
    listeners_.push_back(*std::move(listener));
    if (!config_.transparent.address6.empty()) {
      auto v6 = Listener::create(&loop_, config_.transparent.address6, config_.transparent.port,
                                 true, on_accept);
      if (v6.ok()) {
        log::info("listening (transparent)", {{"address", (*v6)->address().toString()}});
        listeners_.push_back(*std::move(v6));
      } else {
        log::info("no IPv6 transparent listener", {{"reason", std::string(v6.status().message())}});
      }
    }
  }
  if (listeners_.empty() && (!config_.policy_file.empty() || control_plane_)) {
    log::warn(
        "nothing listens: no explicit listener (--listen) and no transparent listener "
        "(transparent: in the config, --transparent-port); no connection is served");
  }
  admin_ = std::make_unique<AdminServer>(registry_, [this] { return readiness(); });
  if (auto st = admin_->start(config_.admin.address, config_.admin.port); !st.ok()) return st;

  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);
  uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
  uv_signal_init(&loop_, &sighup_);
  sighup_.data = this;
  uv_signal_start(&sighup_, &Server::onHangup, SIGHUP);
  uv_async_init(&loop_, &stop_async_, &Server::onStopAsync);
  stop_async_.data = this;
  uv_timer_init(&loop_, &housekeeping_);
  housekeeping_.data = this;
  // Stalled startups, and the policy's host names looked up again when their answers are
  // older than the DNS refresh interval.
  const uint64_t every_ms =
      std::min<uint64_t>(5000, static_cast<uint64_t>(config_.dns_refresh_seconds) * 1000);
  uv_timer_start(
      &housekeeping_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Server*>(t->data);
        self->connections_->endStalledStartups();
        self->connections_->refreshDestinations();
      },
      every_ms, every_ms);
  if (config_.exit_when_done) {
    pod_watch_ = std::make_unique<PodWatch>(::getpid());
    uv_timer_init(&loop_, &pod_timer_);
    pod_timer_.data = this;
    uv_timer_start(
        &pod_timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<Server*>(t->data);
          // Only once nothing is in flight: a session still open is still the job's.
          uint64_t accepted = self->connections_->acceptedConnections();
          if (self->connections_->activeSessions() == 0 &&
              self->pod_watch_->jobDone(accepted > 0)) {
            log::info("job finished", {{"connections_served", std::to_string(accepted)}});
            self->beginShutdown("the pod's other containers have exited");
          }
        },
        200, 200);
  }

  ready_ = true;
  log::info("sidecar started",
            {{"admin", config_.admin.address + ":" + std::to_string(admin_->port())},
             {"workers", std::to_string(config_.workers)}});
  return absl::OkStatus();
}

int Server::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  log::info("sidecar stopped");
  return 0;
}

void Server::requestStop() { uv_async_send(&stop_async_); }

void Server::onSignal(uv_signal_t* handle, int signum) {
  static_cast<Server*>(handle->data)->beginShutdown(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void Server::onHangup(uv_signal_t* handle, int) {
  auto* self = static_cast<Server*>(handle->data);
  if (self->config_.policy_file.empty()) return;
  // A bad new policy (or one whose resources claim one destination twice) leaves the current
  // one in force.
  self->loadPolicy([](const absl::Status& st) {
    if (!st.ok() && !absl::IsCancelled(st)) {
      log::error("policy reload failed; keeping the current policy",
                 {{"error", std::string(st.message())}});
    }
  });
}

void Server::onStopAsync(uv_async_t* handle) {
  static_cast<Server*>(handle->data)->beginShutdown("stop requested");
}

void Server::beginShutdown(const char* why) {
  if (stopping_.exchange(true)) return;
  ready_ = false;
  log::info("sidecar shutting down", {{"reason", why}});
  for (auto& l : listeners_) l->close();
  listeners_.clear();
  // Sessions finish on the workers; the main loop only waits.
  connections_->drainAndStop(std::chrono::seconds(config_.drain_seconds));
  // Session-end events are on their way, and a backlog may be spooled from an outage: the
  // stream has until the audit drain period to deliver them (it keeps reconnecting).
  if (control_plane_) {
    control_plane_->stop(std::chrono::seconds(config_.control_plane.audit_drain_seconds));
  }
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) {
    uv_signal_stop(s);
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
  uv_timer_stop(&housekeeping_);
  uv_close(reinterpret_cast<uv_handle_t*>(&housekeeping_), nullptr);
  if (pod_watch_) {
    uv_timer_stop(&pod_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&pod_timer_), nullptr);
  }
}

std::string Server::readiness() const {
  if (stopping_) return "shutting down";
  if (!ready_) return "starting";
  if (control_plane_ && !control_plane_->connected()) return "control plane not connected";
  if (!policy_loaded_ && (control_plane_ || !config_.policy_file.empty())) return "no policy yet";
  return "";
}

}  // namespace tollgate::sidecar
