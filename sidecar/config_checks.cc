// Listener and file checks of a policy as it loads (see config_checks.h).
#include "sidecar/config_checks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tollgate::sidecar {
namespace {

// Why `path` cannot be opened for reading now, or "". Never blocks: a FIFO is opened
// non-blocking and refused, like anything else that is not a regular file.
std::string unreadable(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::strerror(errno);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  return regular ? "" : "not a regular file";
}

}  // namespace

bool servesProtocol(policy::Protocol protocol) {
  return protocol == policy::Protocol::kPostgres || protocol == policy::Protocol::kTcp;
}

PolicyFit checkPolicyFit(const policy::CompiledPolicy& policy,
                         const std::vector<ListenerConfig>& listeners, bool standalone) {
  PolicyFit fit;
  for (const auto& l : listeners) {
    const std::string where = absl::StrCat("listener ", l.address, ":", l.port);
    const policy::Resource* r = policy.resource(l.resource);
    if (r == nullptr) {
      fit.errors.push_back(
          absl::StrCat(where, " names resource ", l.resource, ", which the policy does not have"));
    } else if (!servesProtocol(r->protocol)) {
      fit.warnings.push_back(absl::StrCat(where, ": resource ", l.resource, " uses protocol ",
                                          std::string(policy::protocolName(r->protocol)),
                                          ", which this sidecar does not speak yet: its "
                                          "connections are refused"));
    }
  }
  for (const auto& r : policy.document().resources) {
    // Only PostgreSQL sessions read these files (a tcp relay carries the client's own bytes).
    if (r.protocol != policy::Protocol::kPostgres) continue;
    const std::string what = absl::StrCat("resource ", r.name);
    if (r.upstream.tls != policy::TlsMode::kDisable && !r.upstream.ca.empty()) {
      if (std::string why = unreadable(r.upstream.ca); !why.empty()) {
        fit.warnings.push_back(absl::StrCat(what, ": upstream.ca ", r.upstream.ca,
                                            " cannot be read (", why,
                                            "): its sessions fail until it can"));
      }
    }
    if (!standalone) continue;
    if (!r.credentials.file.empty()) {
      if (std::string why = unreadable(r.credentials.file); !why.empty()) {
        fit.warnings.push_back(absl::StrCat(what, ": credentials.file ", r.credentials.file,
                                            " cannot be read (", why,
                                            "): its sessions are refused until it can"));
      }
    } else if (!r.credentials.secret.empty()) {
      fit.warnings.push_back(absl::StrCat(what, ": credentials.secret ", r.credentials.secret,
                                          " is brokered by a control plane; in standalone mode "
                                          "its sessions are refused (give credentials.file)"));
    }
  }
  return fit;
}

}  // namespace tollgate::sidecar
