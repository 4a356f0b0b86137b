// RFC 3339 rendering of protobuf timestamps.
#include "controlplane/core/time_util.h"

#include <ctime>

namespace tollgate::controlplane::core {

std::string rfc3339(const google::protobuf::Timestamp& ts) {
  time_t secs = static_cast<time_t>(ts.seconds());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace tollgate::controlplane::core
