// Standalone-mode event sink: one JSON object per line, appended to a file or stdout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/events/event_sink.h"

namespace tollgate::sidecar {

// Events are queued by publish() and built (publishDeferred), encoded and written by a
// background thread into one reused message, so data-path threads never wait on the disk nor
// build protobuf messages. The writer wakes when a batch is full or every kMaxDelay, never per
// event, so a busy data path pays no thread switch per statement. The queue is a vector the
// writer swaps with its own, so steady traffic allocates no queue nodes. The file is opened
// for append; each line is written whole.
class JsonLinesSink : public EventSink {
 public:
  // `path` "-" means stdout. Directories of `path` that are missing are created (mode 0750),
  // so a fresh machine needs no set-up for /var/log/tollgate/events.jsonl.
  static absl::StatusOr<std::shared_ptr<JsonLinesSink>> open(const std::string& path);
  ~JsonLinesSink() override;

  // EventSink
  void publish(v1::AuditEvent event) override;
  void publishDeferred(DeferredEventPtr event) override;
  // audit: sync. `done(true)` once the line is written, flushed and fsync()ed; `done(false)`
  // when the file refuses it (disk full, I/O error): the statement is then not run.
  void publishConfirmed(v1::AuditEvent event, std::function<void(bool)> done) override;
  void flush() override;

  // Events whose line could not be written since the sink opened (each failure is logged).
  uint64_t failedEvents() const;

 private:
  struct Queued {
    uint64_t sequence = 0;
    DeferredEventPtr event;
    std::function<void(bool)> done;  // publishConfirmed only
  };
  // Queues one event (`done`: publishConfirmed's callback, or null) and wakes the writer when
  // a batch is full or `done` is set. Waits while the queue is full.
  void enqueue(DeferredEventPtr event, std::function<void(bool)> done);
  // Writes `buf` (whole lines); false when the file did not take all of it.
  bool writeLines(const std::string& buf, bool durable);
  explicit JsonLinesSink(FILE* file, bool owned);
  void run();

  static constexpr size_t kBatch = 256;
  // Past this many queued events publish() waits for the writer: nothing is dropped, and a
  // disk that cannot keep up slows the data path instead of growing memory without bound.
  static constexpr size_t kMaxQueued = 65536;
  static constexpr std::chrono::milliseconds kMaxDelay{20};

  FILE* file_;
  bool owned_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_cv_;
  std::condition_variable room_cv_;
  std::vector<Queued> queue_;
  uint64_t published_ = 0;
  uint64_t written_ = 0;
  bool stopping_ = false;
  bool flush_requested_ = false;
  uint64_t failed_ = 0;   // guarded by mu_
  bool failing_ = false;  // the writer thread's own
  std::thread thread_;
};

}  // namespace tollgate::sidecar
