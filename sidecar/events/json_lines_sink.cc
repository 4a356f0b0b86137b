// JSON-lines event sink with a background writer thread.
#include "sidecar/events/json_lines_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "sidecar/events/event_json.h"

namespace tollgate::sidecar {

namespace {

// Creates the directories of `path` that are missing, mode 0750 (less the umask).
absl::Status makeParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      return absl::UnavailableError(absl::StrCat("events file ", path, ": cannot create directory ",
                                                 dir, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path) {
  if (path == "-") return std::shared_ptr<JsonLinesSink>(new JsonLinesSink(stdout, false));
  if (auto st = makeParents(path); !st.ok()) return st;
  // Created 0640 (less the umask), as its directories are 0750: the trail is not everyone's.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  FILE* f = fd < 0 ? nullptr : ::fdopen(fd, "a");
  if (f == nullptr) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError("events file " + path + ": " + std::strerror(err));
  }
  return std::shared_ptr<JsonLinesSink>(new JsonLinesSink(f, true));
}

JsonLinesSink::JsonLinesSink(FILE* file, bool owned) : file_(file), owned_(owned) {
  thread_ = std::thread([this] { run(); });
}

JsonLinesSink::~JsonLinesSink() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (owned_) std::fclose(file_);
}

void JsonLinesSink::publish(v1::AuditEvent event) {
  publishDeferred(std::make_unique<ReadyEvent>(std::move(event)));
}

void JsonLinesSink::publishDeferred(DeferredEventPtr event) { enqueue(std::move(event), nullptr); }

void JsonLinesSink::publishConfirmed(v1::AuditEvent event, std::function<void(bool)> done) {
  enqueue(std::make_unique<ReadyEvent>(std::move(event)), std::move(done));
}

void JsonLinesSink::enqueue(DeferredEventPtr event, std::function<void(bool)> done) {
  {
    std::unique_lock lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      cv_.notify_one();
      room_cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || stopping_; });
    }
    const bool waited_for = done != nullptr;
    queue_.push_back(Queued{++published_, std::move(event), std::move(done)});
    // A full batch wakes the writer; a statement waiting for its record skips the batching delay.
    if (waited_for) {
      flush_requested_ = true;
    } else if (queue_.size() != kBatch) {
      return;
    }
  }
  cv_.notify_one();
}

uint64_t JsonLinesSink::failedEvents() const {
  std::lock_guard lock(mu_);
  return failed_;
}

bool JsonLinesSink::writeLines(const std::string& buf, bool durable) {
  std::clearerr(file_);
  const size_t n = std::fwrite(buf.data(), 1, buf.size(), file_);
  bool ok = n == buf.size() && std::fflush(file_) == 0;
  if (ok && durable && fsync(fileno(file_)) != 0 && errno != EINVAL && errno != ENOTSUP) {
    ok = false;  // stdout to a pipe or a terminal cannot be fsync()ed, and need not be
  }
  // Logged when writing starts failing and when it works again, not per batch.
  if (!ok && !failing_) {
    log::error("events file write failed: audit records are being lost",
               {{"error", std::strerror(errno)}});
  } else if (ok && failing_) {
    log::info("events file writable again");
  }
  failing_ = !ok;
  return ok;
}

void JsonLinesSink::flush() {
  std::unique_lock lock(mu_);
  uint64_t target = published_;
  flush_requested_ = true;
  cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return written_ >= target; });
}

void JsonLinesSink::run() {
  std::string buf;
  std::vector<Queued> batch;
  v1::AuditEvent event;  // reused, with its sub-messages and string buffers
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kMaxDelay,
                   [&] { return stopping_ || flush_requested_ || queue_.size() >= kBatch; });
      flush_requested_ = false;
      if (queue_.empty()) {
        if (stopping_) return;
        continue;
      }
      batch.swap(queue_);
    }
    room_cv_.notify_all();
    buf.clear();
    bool confirmed = false;
    for (auto& q : batch) {
      clearKeepingBuffers(event);
      q.event->build(event);
      event.set_source_sequence(q.sequence);
      appendEventJson(event, buf);
      buf.push_back('\n');
      confirmed = confirmed || q.done != nullptr;
    }
    const bool ok = writeLines(buf, confirmed);
    {
      std::lock_guard lock(mu_);
      written_ += batch.size();
      if (!ok) failed_ += batch.size();
    }
    for (auto& q : batch) {
      if (q.done) q.done(ok);
    }
    flushed_cv_.notify_all();
    batch.clear();
    // A burst (up to kMaxQueued) must not pin its queue memory for the sidecar's whole life.
    if (batch.capacity() > 4 * kBatch) std::vector<Queued>().swap(batch);
    if (buf.capacity() > (1u << 20)) std::string().swap(buf);
  }
}

}  // namespace tollgate::sidecar
