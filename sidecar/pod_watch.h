// Classic-sidecar mode: notices when every other process of the pod has ended.
#pragma once

#include <sys/types.h>

#include <string>

namespace tollgate::sidecar {

// Scans a /proc directory (the pod shares one process namespace in classic mode) for processes
// other than pid 1 (the pause container), `self` and `self`'s direct children.
class PodWatch {
 public:
  explicit PodWatch(pid_t self, std::string proc_dir = "/proc")
      : self_(self), proc_(std::move(proc_dir)) {}
  // True once the job is known to have run and no other process is left. The job has run when
  // a scan saw another process, or when `served_connections` says a client used the gate (a
  // job too short to be caught between two scans still connects through the sidecar). Call
  // periodically.
  bool jobDone(bool served_connections = false);
  // How many other processes the last scan found.
  int lastCount() const { return last_count_; }

 private:
  int countOthers() const;

  pid_t self_;
  std::string proc_;
  bool seen_others_ = false;
  int last_count_ = 0;
};

}  // namespace tollgate::sidecar
