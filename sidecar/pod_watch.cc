// Process scan for --exit-when-done.
#include "sidecar/pod_watch.h"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tollgate::sidecar {
namespace {

// The parent pid from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may hold spaces).
pid_t parentOf(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 1));
  std::string state;
  long ppid = -1;
  rest >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

}  // namespace

int PodWatch::countOthers() const {
  DIR* dir = ::opendir(proc_.c_str());
  if (dir == nullptr) return 0;
  int count = 0;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 1 || pid == self_) continue;
    pid_t ppid = parentOf(proc_ + "/" + e->d_name + "/stat");
    if (ppid < 0 || ppid == self_) continue;  // gone meanwhile, or our own helper
    ++count;
  }
  ::closedir(dir);
  return count;
}

bool PodWatch::jobDone(bool served_connections) {
  last_count_ = countOthers();
  if (last_count_ > 0) {
    seen_others_ = true;
    return false;
  }
  return seen_others_ || served_connections;
}

}  // namespace tollgate::sidecar
