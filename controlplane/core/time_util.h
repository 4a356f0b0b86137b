// Conversions between std::chrono wall-clock time and protobuf Timestamp / Duration.
#pragma once

#include <chrono>
#include <string>

#include <google/protobuf/timestamp.pb.h>

namespace tollgate::controlplane::core {

inline google::protobuf::Timestamp toTimestamp(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp ts;
  int64_t secs = us / 1000000;
  int64_t rem = us % 1000000;
  if (rem < 0) {
    rem += 1000000;
    --secs;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(rem * 1000));
  return ts;
}

inline std::chrono::system_clock::time_point fromTimestamp(const google::protobuf::Timestamp& ts) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
}

// RFC 3339 UTC with seconds precision, e.g. "2025-01-01T00:00:00Z".
std::string rfc3339(const google::protobuf::Timestamp& ts);

}  // namespace tollgate::controlplane::core
