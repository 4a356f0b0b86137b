// --exit-when-done: the job is done once other processes were seen and are all gone.
#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <fstream>

#include "sidecar/pod_watch.h"
#include "tests/support/test_support.h"

using tollgate::sidecar::PodWatch;
using tollgate::testing::TempDir;

namespace {

void addProc(const TempDir& proc, int pid, int ppid, const std::string& comm) {
  std::filesystem::create_directories(proc.path() / std::to_string(pid));
  std::ofstream(proc.path() / std::to_string(pid) / "stat")
      << pid << " (" << comm << ") S " << ppid << " 1 1 0 -1\n";
}

}  // namespace

TEST_CASE("the job is done only after its processes were seen and have ended", "[pod_watch]") {
  TempDir proc;
  addProc(proc, 1, 0, "pause");
  addProc(proc, 7, 1, "tollgate-sidecar");
  PodWatch watch(7, proc.path().string());
  // Nothing but pause and ourselves yet: the job has not started, so it is not done either.
  CHECK_FALSE(watch.jobDone());
  addProc(proc, 20, 1, "python3 job.py");  // a comm with a space and a dot
  addProc(proc, 21, 20, "psql");
  CHECK_FALSE(watch.jobDone());
  CHECK(watch.lastCount() == 2);
  std::filesystem::remove_all(proc.path() / "21");
  CHECK_FALSE(watch.jobDone());
  std::filesystem::remove_all(proc.path() / "20");
  CHECK(watch.jobDone());
}

TEST_CASE("the sidecar's own children and non-process entries do not count", "[pod_watch]") {
  TempDir proc;
  addProc(proc, 1, 0, "pause");
  addProc(proc, 7, 1, "tollgate-sidecar");
  addProc(proc, 8, 7, "iptables");  // a child of the sidecar
  std::filesystem::create_directories(proc.path() / "self");
  std::filesystem::create_directories(proc.path() / "sys");
  PodWatch watch(7, proc.path().string());
  CHECK_FALSE(watch.jobDone());
  CHECK(watch.lastCount() == 0);
}

TEST_CASE("a job too short for any scan still counts once it used the gate", "[pod_watch]") {
  TempDir proc;
  addProc(proc, 1, 0, "pause");
  addProc(proc, 7, 1, "tollgate-sidecar");
  PodWatch watch(7, proc.path().string());
  CHECK_FALSE(watch.jobDone(false));
  // The job connected, ran and exited between two scans: no process ever seen.
  CHECK(watch.jobDone(true));
}
