// Control-plane stream, audit side: events spooled to disk, sent in batches, replayed after a
// reconnect, and confirmed to the sessions that wait for them (audit: sync).
#include "sidecar/cp/control_plane_client.h"

#include "common/log.h"

namespace tollgate::sidecar::cp {
namespace {

constexpr size_t kBatchEvents = 256;

}  // namespace

void ControlPlaneClient::writeAudit() {
  std::vector<v1::AuditEvent> fresh;
  std::vector<std::function<void(bool)>> confirms;
  {
    std::lock_guard lock(mu_);
    fresh.swap(incoming_);
    confirms.swap(incoming_confirm_);
    spooling_ = !fresh.empty();  // stop() must not take "nothing queued" for "all sent"
  }
  // 1. Spool what arrived, numbered, synced to disk before it is sent.
  if (!fresh.empty()) {
    for (size_t i = 0; i < fresh.size(); ++i) {
      auto& e = fresh[i];
      uint64_t seq = spool_.nextSequence();
      if (i < confirms.size() && confirms[i]) {
        std::unique_lock lock(mu_);
        if (connected_) {
          confirm_waiters_[seq] = std::move(confirms[i]);
        } else {
          lock.unlock();
          confirms[i](false);  // the stream dropped meanwhile: fail closed
        }
      }
      e.set_source_sequence(seq);
      e.mutable_location()->set_source(options_.source);
      if (auto st = spool_.append(seq, e.SerializeAsString()); !st.ok()) {
        log::error("audit spool write failed", {{"error", std::string(st.message())}});
      }
    }
    if (auto st = spool_.sync(); !st.ok()) {
      log::error("audit spool sync failed", {{"error", std::string(st.message())}});
    }
    spooled_ = spool_.nextSequence() - 1;
  }
  // 2. Drop what the control plane has stored.
  if (auto st = spool_.acknowledge(acked_.load()); !st.ok()) {
    log::error("audit spool trim failed", {{"error", std::string(st.message())}});
  }
  std::vector<std::function<void(bool)>> confirmed;
  {
    std::lock_guard lock(mu_);
    uint64_t acked = acked_.load();
    while (!confirm_waiters_.empty() && confirm_waiters_.begin()->first <= acked) {
      confirmed.push_back(std::move(confirm_waiters_.begin()->second));
      confirm_waiters_.erase(confirm_waiters_.begin());
    }
    backlog_bytes_ = spool_.pendingBytes();
    backlog_events_ = spool_.pending().size();
    spooling_ = false;
  }
  cv_.notify_all();
  for (auto& cb : confirmed) cb(true);
  // 3. Send everything not sent on this stream yet, in batches. A stream welcomed since the
  // last pass (it may have come up during the spool's fsync) starts after the acknowledged
  // sequence, not after what went to the stream before it.
  uint64_t from;
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (!connected_) return;
    generation = welcomed_generation_;
    if (sent_generation_ != generation) {
      sent_generation_ = generation;
      sent_through_ = acked_.load();
    }
    from = sent_through_;
  }
  v1::SidecarMessage batch;
  uint64_t last = 0;
  for (const auto& entry : spool_.pending()) {
    if (entry.sequence <= from) continue;
    v1::AuditEvent* e = batch.mutable_audit()->add_events();
    if (!e->ParseFromString(entry.bytes)) {
      batch.mutable_audit()->mutable_events()->RemoveLast();
      continue;
    }
    last = entry.sequence;
    if (batch.audit().events_size() >= static_cast<int>(kBatchEvents)) {
      if (!sendAudit(batch, generation, last)) return;
      batch.Clear();
    }
  }
  if (batch.audit().events_size() > 0) sendAudit(batch, generation, last);
}

bool ControlPlaneClient::sendAudit(const v1::SidecarMessage& batch, uint64_t generation,
                                   uint64_t last) {
  if (!send(batch, generation)) return false;
  std::lock_guard lock(mu_);
  sent_through_ = last;
  return true;
}

void ControlPlaneClient::publish(v1::AuditEvent event) {
  {
    std::lock_guard lock(mu_);
    incoming_.push_back(std::move(event));
    incoming_confirm_.emplace_back();
  }
  cv_.notify_all();
}

void ControlPlaneClient::publishConfirmed(v1::AuditEvent event, std::function<void(bool)> done) {
  {
    std::unique_lock lock(mu_);
    if (!connected_) {
      lock.unlock();
      done(false);
      return;
    }
    incoming_.push_back(std::move(event));
    incoming_confirm_.push_back(std::move(done));
  }
  cv_.notify_all();
}

void ControlPlaneClient::flush() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return incoming_.empty(); });
}

}  // namespace tollgate::sidecar::cp
