// JSON-lines event sink with a background writer thread.
#include "sidecar/events/json_lines_sink.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include "sidecar/events/event_json.h"

namespace tollgate::sidecar {

absl::StatusOr<std::shared_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path) {
  if (path == "-") return std::shared_ptr<JsonLinesSink>(new JsonLinesSink(stdout, false));
  FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr) {
    return absl::UnavailableError("events file " + path + ": " + std::strerror(errno));
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
  {
    std::unique_lock lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      cv_.notify_one();
      room_cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || stopping_; });
    }
    event.set_source_sequence(++published_);
    queue_.push_back(std::move(event));
    if (queue_.size() != kBatch) return;
  }
  cv_.notify_one();
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
  std::vector<v1::AuditEvent> batch;
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
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    room_cv_.notify_all();
    buf.clear();
    for (const auto& e : batch) {
      appendEventJson(e, buf);
      buf.push_back('\n');
    }
    std::fwrite(buf.data(), 1, buf.size(), file_);
    std::fflush(file_);
    {
      std::lock_guard lock(mu_);
      written_ += batch.size();
    }
    flushed_cv_.notify_all();
    batch.clear();
  }
}

}  // namespace tollgate::sidecar
