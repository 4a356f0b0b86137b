// A tiny stand-in for the kubelet in the pod-level test: reads a (patched) Pod object and turns
// one container into the command line that runs it in the test's network namespace, the way
// the kubelet would: env from values and the downward API, $(VAR) expansion, the uid and
// capabilities of the security context, volume mount paths mapped to host directories.
#pragma once

#include <openssl/evp.h>

#include <cctype>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tollgate::testing {

// Standard base64 (with padding) to bytes; throws std::runtime_error on bad input.
inline std::string base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) throw std::runtime_error("base64: length not a multiple of 4");
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) throw std::runtime_error("base64: invalid input");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// A single-quoted POSIX shell word.
inline std::string shellQuote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Kubernetes' $(VAR) expansion: references to defined variables are replaced, "$$" is a
// literal "$", anything else is left as written.
inline std::string expandVars(const std::string& text,
                              const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
    } else if (text[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (size_t close = text.find(')', i); text[i + 1] == '(' && close != std::string::npos) {
      auto it = env.find(text.substr(i + 2, close - i - 2));
      out += it != env.end() ? it->second : text.substr(i, close - i + 1);
      i = close;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The container of `pod` named `name` in spec.initContainers or spec.containers; throws when
// there is none.
inline const nlohmann::json& containerNamed(const nlohmann::json& pod, const std::string& name) {
  for (const char* list : {"initContainers", "containers"}) {
    if (!pod["spec"].contains(list)) continue;
    for (const auto& c : pod["spec"][list]) {
      if (c.value("name", "") == name) return c;
    }
  }
  throw std::runtime_error("pod has no container " + name);
}

// How one container runs on this machine.
struct ContainerLaunch {
  std::string name;
  long uid = 0;
  long gid = 0;
  std::vector<std::string> capabilities;  // added ones, lower case ("net_admin")
  bool no_new_privs = false;
  std::map<std::string, std::string> env;  // after downward API and $(VAR) expansion
  std::vector<std::string> command;        // command + args, expanded and path-mapped
  // Full argv: ip netns exec NS setpriv ... -- env -i ... command.
  std::vector<std::string> argv;
};

struct KubeletContext {
  std::string netns;
  // Image command -> binary on this machine ("/usr/local/bin/tollgate-sidecar" -> build/bin/...).
  std::map<std::string, std::string> binaries;
  // Pod volume name -> host directory standing in for it (mount paths are rewritten).
  std::map<std::string, std::string> volumes;
};

// Resolves container `name` of the patched `pod` into a launch. The uid/gid come from the
// container's securityContext, else the pod's (0 when neither sets one); capabilities.add is
// kept (everything else is dropped from the bounding set); env: value (with $(VAR) of earlier
// entries) or valueFrom.fieldRef for metadata.name/namespace/uid and spec.serviceAccountName;
// command and args are expanded against that env; any word or env value naming a path under a
// mounted volume is rewritten to the host directory of that volume.
inline ContainerLaunch resolveContainer(const nlohmann::json& pod, const std::string& name,
                                        const KubeletContext& kubelet) {
  const nlohmann::json& c = containerNamed(pod, name);
  ContainerLaunch launch;
  launch.name = name;
  nlohmann::json pod_sc = pod["spec"].value("securityContext", nlohmann::json::object());
  nlohmann::json sc = c.value("securityContext", nlohmann::json::object());
  auto pick = [&](const char* key) {
    return sc.contains(key) ? sc[key].get<long>() : pod_sc.value(key, 0L);
  };
  launch.uid = pick("runAsUser");
  launch.gid =
      sc.contains("runAsGroup") || pod_sc.contains("runAsGroup") ? pick("runAsGroup") : launch.uid;
  if (sc.contains("capabilities") && sc["capabilities"].contains("add")) {
    for (const auto& cap : sc["capabilities"]["add"]) {
      std::string s = cap.get<std::string>();
      for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      launch.capabilities.push_back(s);
    }
  }
  launch.no_new_privs = !sc.value("allowPrivilegeEscalation", true);

  std::map<std::string, std::string> mounts;  // mountPath -> host dir
  for (const auto& m : c.value("volumeMounts", nlohmann::json::array())) {
    auto it = kubelet.volumes.find(m["name"].get<std::string>());
    if (it != kubelet.volumes.end()) mounts[m["mountPath"].get<std::string>()] = it->second;
  }
  auto mapPath = [&](const std::string& word) {
    for (const auto& [path, host] : mounts) {
      if (word == path || word.rfind(path + "/", 0) == 0) return host + word.substr(path.size());
    }
    return word;
  };

  for (const auto& e : c.value("env", nlohmann::json::array())) {
    std::string key = e["name"].get<std::string>();
    std::string value;
    if (e.contains("value")) {
      value = expandVars(e["value"].get<std::string>(), launch.env);
    } else if (e.contains("valueFrom") && e["valueFrom"].contains("fieldRef")) {
      std::string field = e["valueFrom"]["fieldRef"]["fieldPath"].get<std::string>();
      std::string pointer = "/" + field;
      for (char& ch : pointer) ch = ch == '.' ? '/' : ch;
      nlohmann::json::json_pointer p(pointer);
      if (!pod.contains(p)) throw std::runtime_error("downward API field missing: " + field);
      value = pod[p].get<std::string>();
    } else {
      throw std::runtime_error("env " + key + ": unsupported source in this test");
    }
    launch.env[key] = mapPath(value);
  }
  std::vector<std::string> words;
  for (const char* key : {"command", "args"}) {
    for (const auto& w : c.value(key, nlohmann::json::array())) {
      words.push_back(mapPath(expandVars(w.get<std::string>(), launch.env)));
    }
  }
  if (words.empty()) throw std::runtime_error(name + ": no command (image entrypoints unknown)");
  if (auto it = kubelet.binaries.find(words[0]); it != kubelet.binaries.end()) {
    words[0] = it->second;
  }
  launch.command = words;

  std::string bounding = "-all";
  for (const std::string& cap : launch.capabilities) bounding += ",+" + cap;
  launch.argv = {"ip", "netns", "exec", kubelet.netns, "setpriv"};
  launch.argv.insert(launch.argv.end(),
                     {"--reuid", std::to_string(launch.uid), "--regid", std::to_string(launch.gid),
                      "--clear-groups", "--bounding-set", bounding});
  if (launch.no_new_privs) launch.argv.push_back("--no-new-privs");
  launch.argv.insert(launch.argv.end(), {"--", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"});
  for (const auto& [k, v] : launch.env) launch.argv.push_back(k + "=" + v);
  launch.argv.insert(launch.argv.end(), words.begin(), words.end());
  return launch;
}

}  // namespace tollgate::testing
