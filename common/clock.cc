// The system clock.
#include "common/clock.h"

namespace tollgate {
namespace {
class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};
}  // namespace

ClockPtr systemClock() {
  static ClockPtr clock = std::make_shared<SystemClock>();
  return clock;
}

}  // namespace tollgate
