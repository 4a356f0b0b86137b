// Control-plane stream, audit side: events spooled to disk, sent in batches, replayed after a
// reconnect, and confirmed to the sessions that wait for them (audit: sync).
#include "sidecar/cp/control_plane_client.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "proto/message_strings.h"

namespace tollgate::sidecar::cp {
namespace {

constexpr size_t kBatchEvents = 256;
// Under gRPC's default 4 MiB message limit with room to spare; a single event is at most a few
// long fields of kMaxValueBytes.
constexpr size_t kBatchBytes = 1u << 20;
// After a failed spool write (disk full, I/O error), events wait in memory this long before the
// writer tries again.
constexpr auto kSpoolRetry = std::chrono::milliseconds(500);
// An event larger than this is not kept for reuse in the writer's batch message.
constexpr size_t kKeepEventBytes = 16u << 10;
// Batches sent per writer pass before the events queued meanwhile are spooled.
constexpr int kBatchesPerPass = 4;
// A single event's ceiling once its values are cut (see fitEvent).
constexpr size_t kMaxEventBytes = 512u << 10;

// Values are cut to kMaxValueBytes each, but a statement naming tens of thousands of tables has
// as many `objects`: the first ones are kept, with a note of how many more there were, so the
// event (and its batch) stays under the stream's message limit.
void fitEvent(v1::AuditEvent& e) {
  if (e.ByteSizeLong() <= kMaxEventBytes) return;
  auto* objects = e.mutable_action()->mutable_objects();
  size_t kept_bytes = 0;
  int keep = 0;
  while (keep < objects->size() &&
         kept_bytes + objects->Get(keep).size() + 4 < kMaxEventBytes / 2) {
    kept_bytes += objects->Get(keep).size() + 4;
    ++keep;
  }
  const int more = objects->size() - keep;
  if (more > 0) {
    objects->DeleteSubrange(keep, more);
    *objects->Add() = "[" + std::to_string(more) + " more]";
  }
  if (e.ByteSizeLong() > kMaxEventBytes) objects->Clear();
}

// The event sent in place of a spooled record that no longer parses (a damaged spool file): the
// control plane stores a record at that sequence saying so, instead of a silent gap.
v1::AuditEvent unreadableRecord(uint64_t sequence, size_t bytes, const std::string& source) {
  v1::AuditEvent e;
  e.set_type(v1::EVENT_AUDIT_STOPPED);
  e.set_source_sequence(sequence);
  e.mutable_location()->set_source(source);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  e.mutable_time()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  e.mutable_action()->set_detail("the sidecar's spooled record " + std::to_string(sequence) + " (" +
                                 std::to_string(bytes) +
                                 " bytes) could not be read back; its content is lost");
  return e;
}

}  // namespace

void ControlPlaneClient::writeAudit() {
  std::vector<Incoming> fresh;
  const bool spool_ready = std::chrono::steady_clock::now() >= spool_retry_at_;
  {
    std::lock_guard lock(mu_);
    if (spool_ready) {
      fresh.swap(incoming_);
      in_flight_bytes_ = incoming_bytes_;
      incoming_bytes_ = 0;
    }
    spooling_ = !fresh.empty();  // stop() must not take "nothing queued" for "all sent"
  }
  // 1. Spool what arrived, numbered, synced to disk before it is sent. Strings are made
  // storable first: a proto3 parser refuses a string that is not UTF-8, and would refuse the
  // whole batch with it.
  size_t spooled = 0;
  for (; spooled < fresh.size(); ++spooled) {
    v1::AuditEvent& e = built_;
    clearKeepingBuffers(e);
    fresh[spooled].event->build(e);
    const uint64_t seq = spool_.nextSequence();
    e.set_source_sequence(seq);
    e.mutable_location()->set_source(options_.source);
    if (auto fixed = proto::storableStrings(e, kMaxValueBytes); fixed.utf8 + fixed.truncated > 0) {
      log::warn("audit event values made storable",
                {{"sequence", std::to_string(seq)},
                 {"not_utf8", std::to_string(fixed.utf8)},
                 {"truncated", std::to_string(fixed.truncated)}});
    }
    fitEvent(e);  // after the values are cut: only then does its size say what `objects` adds
    e.SerializeToString(&serialized_);  // reuses the buffer
    if (auto st = spool_.append(seq, serialized_); !st.ok()) {
      // Nothing is numbered or confirmed until it is on disk: this event and the rest go back
      // to the front of the queue, and strict statements keep waiting.
      log::error("audit spool write failed; events wait in memory and are retried",
                 {{"error", std::string(st.message())},
                  {"events", std::to_string(fresh.size() - spooled)}});
      spool_retry_at_ = std::chrono::steady_clock::now() + kSpoolRetry;
      spool_failing_ = true;
      // Built once only: it waits as it is now (numbered again on the next pass).
      e.clear_source_sequence();
      fresh[spooled].event = std::make_unique<ReadyEvent>(std::move(e));
      built_ = v1::AuditEvent();
      break;
    }
    spool_failing_ = false;
    if (auto& confirm = fresh[spooled].confirm) {
      std::unique_lock lock(mu_);
      if (connected_) {
        confirm_waiters_[seq] = std::move(confirm);
      } else {
        lock.unlock();
        confirm(false);  // the stream dropped meanwhile: fail closed
      }
    }
  }
  if (spooled < fresh.size()) {
    std::lock_guard lock(mu_);
    for (size_t i = spooled; i < fresh.size(); ++i) incoming_bytes_ += fresh[i].bytes;
    incoming_.insert(incoming_.begin(),
                     std::make_move_iterator(fresh.begin() + static_cast<long>(spooled)),
                     std::make_move_iterator(fresh.end()));
  }
  if (spooled > 0) {
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
    backlog_events_ = spool_.pendingEvents();
    in_flight_bytes_ = 0;
    // While the spool cannot be written, events only pile up in memory: refuse as if full.
    const bool saturated = spool_failing_ || overLimitLocked();
    saturated_ = saturated;
    if (saturated != std::exchange(logged_saturated_, saturated)) {
      if (saturated) {
        log::error(spool_failing_ ? "audit spool cannot be written: statements are refused until "
                                    "it can"
                                  : "audit spool full: statements are refused until the control "
                                    "plane takes it",
                   {{"bytes", std::to_string(backlog_bytes_)}});
      } else {
        log::info("audit spool drained: statements run again",
                  {{"bytes", std::to_string(backlog_bytes_)}});
      }
    }
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
  // Read back from the spool a batch at a time: memory holds one batch, not the backlog. A
  // pass sends a few batches only: a slow control plane blocks each write, and events that
  // arrive meanwhile wait in memory until the next pass spools them.
  v1::SidecarMessage& batch = batch_;
  more_to_send_ = false;
  for (int sent = 0;; ++sent) {
    if (sent == kBatchesPerPass) {
      more_to_send_ = true;  // the writer comes back at once (writerLoop)
      return;
    }
    auto records = spool_.read(from, kBatchBytes, kBatchEvents);
    if (!records.ok()) {
      // Nothing is skipped: the next pass (within the writer's 200 ms wake-up) reads again.
      if (!std::exchange(spool_read_failing_, true)) {
        log::error("audit spool read failed; sending resumes when it can be read",
                   {{"error", std::string(records.status().message())}});
      }
      return;
    }
    if (std::exchange(spool_read_failing_, false)) log::info("audit spool readable again");
    if (records->empty()) return;
    batch.mutable_audit()->clear_events();  // keeps the events' buffers for the next batch
    size_t largest = 0;
    for (const auto& record : *records) {
      largest = std::max(largest, record.bytes.size());
      v1::AuditEvent* e = batch.mutable_audit()->add_events();
      if (!record.intact ||
          !e->ParseFromArray(record.bytes.data(), static_cast<int>(record.bytes.size()))) {
        log::error("spooled audit record unreadable; sending a record of the loss in its place",
                   {{"sequence", std::to_string(record.sequence)},
                    {"bytes", std::to_string(record.length)}});
        *e = unreadableRecord(record.sequence, record.length, options_.source);
      }
    }
    from = records->back().sequence;
    const bool sent_ok = sendAudit(batch, generation, from);
    // A kept event holds the capacity of the largest value it ever carried: after a large
    // one the batch starts afresh, so memory does not keep every slot's largest event.
    if (largest > kKeepEventBytes) batch = v1::SidecarMessage();
    if (!sent_ok) return;
  }
}

bool ControlPlaneClient::sendAudit(const v1::SidecarMessage& batch, uint64_t generation,
                                   uint64_t last) {
  if (!send(batch, generation)) return false;
  std::lock_guard lock(mu_);
  sent_through_ = last;
  return true;
}

bool ControlPlaneClient::overLimitLocked() const {
  return backlog_bytes_ + in_flight_bytes_ + incoming_bytes_ > options_.max_backlog_bytes / 2 * 3;
}

void ControlPlaneClient::enqueueLocked(DeferredEventPtr event, size_t bytes,
                                       std::function<void(bool)> confirm) {
  incoming_bytes_ += bytes;
  incoming_.push_back(Incoming{std::move(event), bytes, std::move(confirm)});
  // The writer's next pass logs it (and lifts it once the control plane has taken the backlog).
  if (!saturated_.load(std::memory_order_relaxed) && overLimitLocked()) saturated_ = true;
}

void ControlPlaneClient::publish(v1::AuditEvent event) {
  publishDeferred(std::make_unique<ReadyEvent>(std::move(event)));
}

void ControlPlaneClient::publishDeferred(DeferredEventPtr event) {
  const size_t bytes = event->sizeHint();
  {
    std::lock_guard lock(mu_);
    enqueueLocked(std::move(event), bytes, {});
  }
  cv_.notify_all();
}

// A strict-audit confirmation that is answered once: by the acknowledgement (or its refusal),
// or by its deadline, whichever comes first.
struct ControlPlaneClient::ConfirmOnce {
  explicit ConfirmOnce(std::function<void(bool)> d) : done(std::move(d)) {}
  void fire(bool stored) {
    if (!fired.exchange(true)) done(stored);
  }
  std::function<void(bool)> done;
  std::atomic<bool> fired{false};
};

void ControlPlaneClient::publishConfirmed(v1::AuditEvent event, std::function<void(bool)> done) {
  {
    std::unique_lock lock(mu_);
    if (!connected_) {
      lock.unlock();
      done(false);
      return;
    }
    auto once = std::make_shared<ConfirmOnce>(std::move(done));
    confirm_deadlines_.emplace(std::chrono::steady_clock::now() + options_.audit_confirm_timeout,
                               once);
    auto ready = std::make_unique<ReadyEvent>(std::move(event));
    const size_t bytes = ready->sizeHint();
    enqueueLocked(std::move(ready), bytes, [once](bool stored) { once->fire(stored); });
  }
  cv_.notify_all();
}

void ControlPlaneClient::expireConfirmations() {
  std::vector<std::shared_ptr<ConfirmOnce>> expired;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    while (!confirm_deadlines_.empty() && (confirm_deadlines_.begin()->first <= now ||
                                           confirm_deadlines_.begin()->second->fired)) {
      if (!confirm_deadlines_.begin()->second->fired) {
        expired.push_back(confirm_deadlines_.begin()->second);
      }
      confirm_deadlines_.erase(confirm_deadlines_.begin());
    }
  }
  if (!expired.empty()) {
    log::warn("strict-audit statements refused: their records were not acknowledged in time",
              {{"statements", std::to_string(expired.size())}});
  }
  for (auto& once : expired) once->fire(false);
}

void ControlPlaneClient::flush() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return incoming_.empty(); });
}

}  // namespace tollgate::sidecar::cp
