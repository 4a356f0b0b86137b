// The clock behind an interface, so grant expiry and timeouts are testable without sleeping.
#pragma once

#include <chrono>
#include <memory>

namespace tollgate {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC) for records and expiry.
  virtual std::chrono::system_clock::time_point now() const = 0;
  // Monotonic time for durations and timeouts.
  virtual std::chrono::steady_clock::time_point monotonic() const = 0;
};
using ClockPtr = std::shared_ptr<Clock>;

// The real clock. Thread-safe.
ClockPtr systemClock();

// A clock tests move by hand. Not thread-safe: tests drive it from one thread.
class ManualClock : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start = {}) : wall_(start) {}
  std::chrono::system_clock::time_point now() const override { return wall_; }
  std::chrono::steady_clock::time_point monotonic() const override { return mono_; }
  void advance(std::chrono::nanoseconds d) {
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    mono_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
  }

 private:
  std::chrono::system_clock::time_point wall_;
  std::chrono::steady_clock::time_point mono_{};
};

}  // namespace tollgate
