// Injection decisions and the JSON Patch; reads the pod only through type-checked lookups.
#include "controlplane/webhook/injection.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "controlplane/webhook/sidecar_spec.h"

namespace tollgate::controlplane::webhook {
namespace {

using Json = nlohmann::json;

// The member `key` of `obj` when `obj` is an object and has it, else nullptr.
const Json* member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string stringAt(const Json& obj, const char* key) {
  const Json* v = member(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

bool hasContainerNamed(const Json* list, const char* name) {
  if (list == nullptr || !list->is_array()) return false;
  return std::any_of(list->begin(), list->end(),
                     [&](const Json& c) { return stringAt(c, "name") == name; });
}

std::vector<std::string> splitComma(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

// Adds the pod's exclusion annotations to the configured lists, validating each entry.
absl::StatusOr<RedirectLists> redirectLists(const Json& annotations, const WebhookConfig& config) {
  RedirectLists lists{config.exclude_ports, config.exclude_cidrs, config.include_ports,
                      config.include_cidrs};
  struct Extra {
    const char* key;
    std::vector<std::string>* out;
    bool (*valid)(const std::string&);
  };
  for (const Extra& e : {Extra{kExcludePortsAnnotation, &lists.exclude_ports, isValidPortSpec},
                         Extra{kExcludeCidrsAnnotation, &lists.exclude_cidrs, isValidCidr}}) {
    const Json* v = member(annotations, e.key);
    if (v == nullptr) continue;
    if (!v->is_string()) {
      return absl::InvalidArgumentError(std::string("annotation ") + e.key + " must be a string");
    }
    for (const std::string& item : splitComma(v->get<std::string>())) {
      if (!e.valid(item)) {
        return absl::InvalidArgumentError(std::string("annotation ") + e.key + ": \"" + item +
                                          "\" is not a valid entry");
      }
      e.out->push_back(item);
    }
  }
  return lists;
}

Json addOp(const std::string& path, Json value) {
  return Json{{"op", "add"}, {"path", path}, {"value", std::move(value)}};
}

InjectionPlan skip(std::string reason) {
  InjectionPlan plan;
  plan.reason = std::move(reason);
  return plan;
}

}  // namespace

std::string escapeJsonPointer(const std::string& token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

absl::StatusOr<InjectionPlan> planInjection(const Json& pod, const std::string& ns,
                                            const WebhookConfig& config, OptIn opt_in) {
  if (!pod.is_object()) return absl::InvalidArgumentError("request.object is not a Pod object");
  const Json* metadata = member(pod, "metadata");
  if (metadata != nullptr && !metadata->is_object()) {
    return absl::InvalidArgumentError("pod metadata is not an object");
  }
  const Json* spec = member(pod, "spec");
  if (spec == nullptr || !spec->is_object()) {
    return absl::InvalidArgumentError("pod has no spec object");
  }
  const Json* containers = member(*spec, "containers");
  if (containers == nullptr || !containers->is_array() || containers->empty()) {
    return absl::InvalidArgumentError("pod spec has no containers");
  }
  const Json empty = Json::object();
  const Json* labels = metadata != nullptr ? member(*metadata, "labels") : nullptr;
  const Json* annotations = metadata != nullptr ? member(*metadata, "annotations") : nullptr;
  if (labels != nullptr && !labels->is_object()) {
    return absl::InvalidArgumentError("pod metadata.labels is not an object");
  }
  if (annotations != nullptr && !annotations->is_object()) {
    return absl::InvalidArgumentError("pod metadata.annotations is not an object");
  }
  if (labels == nullptr) labels = &empty;
  if (annotations == nullptr) annotations = &empty;

  // Never: the control plane's namespace, kube-system & co., host-network pods.
  if (ns == config.control_plane_namespace) return skip("control plane namespace " + ns);
  const auto& never = config.never_inject_namespaces;
  if (std::find(never.begin(), never.end(), ns) != never.end()) {
    return skip("namespace " + ns + " is never injected");
  }
  if (const Json* host = member(*spec, "hostNetwork");
      host != nullptr && host->is_boolean() && host->get<bool>()) {
    return skip("hostNetwork pod (its iptables rules would be the node's)");
  }
  std::string label = stringAt(*labels, kInjectKey);
  std::string wish = stringAt(*annotations, kInjectKey);
  if (label == "disabled" || label == "false" || wish == "disabled" || wish == "false") {
    return skip("opted out (tollgate.io/inject)");
  }
  if (opt_in == OptIn::kPodAnnotation && wish != "true" && wish != "enabled") {
    return skip("not opted in (no tollgate.io/inject: \"true\" annotation)");
  }
  // An injected pod has both our containers and the status annotation (the webhook can be
  // called again on it). One without the other was not injected by us: a job's own container
  // named like ours, or a copied or forged annotation. Such a pod is not injected either (two
  // containers of one name would be refused), and the warning says its connections are not
  // gated.
  const Json* init = member(*spec, "initContainers");
  const bool has_ours = hasContainerNamed(containers, kSidecarName) ||
                        hasContainerNamed(init, kSidecarName) ||
                        hasContainerNamed(init, kRedirectName);
  const bool has_status = member(*annotations, kStatusAnnotation) != nullptr;
  if (has_ours && has_status) return skip("already injected");
  if (has_ours || has_status) {
    InjectionPlan plan = skip(has_ours ? "already injected (container name, no status annotation)"
                                       : "already injected (status annotation)");
    plan.warnings.push_back(
        has_ours ? "tollgate: pod has a container named tollgate-sidecar or tollgate-redirect but "
                   "no tollgate.io/status annotation; it was not injected and its database "
                   "connections will not go through the gate: rename the container"
                 : "tollgate: pod carries tollgate.io/status but no tollgate-sidecar container; "
                   "it was not injected and its database connections will not go through the "
                   "gate");
    return plan;
  }

  // The redirect exempts the sidecar's uid (its own upstream connections): a job container
  // running as that uid would reach the databases directly.
  auto runsAsSidecar = [&](const Json* security) {
    const Json* uid =
        security != nullptr && security->is_object() ? member(*security, "runAsUser") : nullptr;
    return uid != nullptr && uid->is_number_integer() &&
           uid->get<int64_t>() == static_cast<int64_t>(config.sidecar_uid);
  };
  const std::string why = std::to_string(config.sidecar_uid) +
                          ", the tollgate sidecar's uid, whose connections are not redirected "
                          "through the gate; use another uid";
  if (runsAsSidecar(member(*spec, "securityContext"))) {
    return absl::InvalidArgumentError("pod securityContext.runAsUser is " + why);
  }
  if (init != nullptr && !init->is_array()) {
    return absl::InvalidArgumentError("pod spec.initContainers is not a list");
  }
  std::set<std::string> ours;
  for (const Json& v : injectedVolumes(config)) ours.insert(v["name"].get<std::string>());
  // What would let a job's container around the gate: the sidecar's uid; root powers over the
  // pod's network (the redirect's iptables rules) or over the sidecar's process (its memory
  // holds the database credentials); the sidecar's volumes (its workload token, which the
  // control plane hands credentials for, and its audit spool). Init containers run after the
  // redirect is set up, so the same holds for them.
  auto refusal = [&](const Json& c, const std::string& kind) -> std::optional<std::string> {
    if (!c.is_object()) return std::nullopt;
    const std::string name = kind + " " + stringAt(c, "name");
    const Json* security = member(c, "securityContext");
    if (runsAsSidecar(security)) return name + " runs as uid " + why;
    if (security != nullptr && security->is_object()) {
      if (const Json* p = member(*security, "privileged");
          p != nullptr && p->is_boolean() && p->get<bool>()) {
        return name + " is privileged, which would let it remove the redirect to the gate";
      }
      const Json* caps = member(*security, "capabilities");
      const Json* add = caps != nullptr && caps->is_object() ? member(*caps, "add") : nullptr;
      for (const Json& cap : add != nullptr && add->is_array() ? *add : Json::array()) {
        // Runtimes read capability names without regard to case, with or without "CAP_".
        std::string v = cap.is_string() ? cap.get<std::string>() : "";
        std::transform(v.begin(), v.end(), v.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
        if (v.rfind("CAP_", 0) == 0) v = v.substr(4);
        if (v == "NET_ADMIN" || v == "SYS_ADMIN" || v == "SYS_PTRACE" || v == "ALL") {
          return name + " adds capability " + v +
                 ", which would let it get around the gate (its redirect, or the sidecar's "
                 "memory)";
        }
      }
    }
    const Json* mounts = member(c, "volumeMounts");
    for (const Json& m : mounts != nullptr && mounts->is_array() ? *mounts : Json::array()) {
      if (const std::string v = stringAt(m, "name"); ours.count(v) != 0) {
        return name + " mounts " + v + ", a volume of the Tollgate sidecar's own";
      }
    }
    return std::nullopt;
  };
  for (const Json& c : *containers) {
    if (auto no = refusal(c, "container")) return absl::InvalidArgumentError(*no);
  }
  for (const Json& c : init != nullptr ? *init : Json::array()) {
    if (auto no = refusal(c, "init container")) return absl::InvalidArgumentError(*no);
  }
  const Json* volumes = member(*spec, "volumes");
  if (volumes != nullptr && !volumes->is_array()) {
    return absl::InvalidArgumentError("pod spec.volumes is not a list");
  }
  std::vector<Json> new_volumes = injectedVolumes(config);
  if (volumes != nullptr) {
    std::set<std::string> taken;
    for (const Json& v : *volumes) {
      taken.insert(stringAt(v, "name"));
      // A token for the control plane's audience is the pod's identity there: with its own,
      // a job could ask for the grants and credentials its sidecar gets.
      const Json* projected = member(v, "projected");
      const Json* sources =
          projected != nullptr && projected->is_object() ? member(*projected, "sources") : nullptr;
      for (const Json& src : sources != nullptr && sources->is_array() ? *sources : Json::array()) {
        const Json* token = member(src, "serviceAccountToken");
        if (token != nullptr && stringAt(*token, "audience") == config.token_audience) {
          return absl::InvalidArgumentError(
              "volume " + stringAt(v, "name") + " projects a service account token for audience " +
              config.token_audience +
              ", the Tollgate control plane's: only the sidecar may hold "
              "one");
        }
      }
    }
    for (const Json& v : new_volumes) {
      if (taken.count(v["name"].get<std::string>()) != 0) {
        return absl::InvalidArgumentError("pod already has a volume named " +
                                          v["name"].get<std::string>() +
                                          " that the Tollgate sidecar needs");
      }
    }
  }
  auto lists = redirectLists(*annotations, config);
  if (!lists.ok()) return lists.status();

  InjectionPlan plan;
  plan.inject = true;
  plan.reason = "injected";
  Json& ops = plan.patch;
  // Annotations: the status, and in classic mode the container kubectl logs/exec default to.
  Json new_annotations = Json::object();
  new_annotations[kStatusAnnotation] = statusAnnotation(config);
  const char* kDefaultContainer = "kubectl.kubernetes.io/default-container";
  if (config.mode == InjectionMode::kClassic &&
      member(*annotations, kDefaultContainer) == nullptr) {
    std::string first = stringAt((*containers)[0], "name");
    if (!first.empty()) new_annotations[kDefaultContainer] = first;
  }
  if (metadata == nullptr) {
    ops.push_back(addOp("/metadata", Json{{"annotations", new_annotations}}));
  } else if (member(*metadata, "annotations") == nullptr) {
    ops.push_back(addOp("/metadata/annotations", new_annotations));
  } else {
    for (const auto& [key, value] : new_annotations.items()) {
      ops.push_back(addOp("/metadata/annotations/" + escapeJsonPointer(key), value));
    }
  }
  // Volumes.
  if (volumes == nullptr) {
    ops.push_back(addOp("/spec/volumes", Json(new_volumes)));
  } else {
    for (Json& v : new_volumes) ops.push_back(addOp("/spec/volumes/-", std::move(v)));
  }
  // Containers: the redirect always runs first; the native sidecar right after it, before the
  // pod's own init containers (which may already talk to the database).
  Json redirect = redirectContainer(config, *lists);
  Json sidecar = sidecarContainer(config);
  if (config.mode == InjectionMode::kNative) {
    if (init == nullptr) {
      ops.push_back(addOp("/spec/initContainers", Json::array({redirect, sidecar})));
    } else {
      ops.push_back(addOp("/spec/initContainers/0", redirect));
      ops.push_back(addOp("/spec/initContainers/1", sidecar));
    }
  } else {
    if (init == nullptr) {
      ops.push_back(addOp("/spec/initContainers", Json::array({redirect})));
    } else {
      ops.push_back(addOp("/spec/initContainers/0", redirect));
    }
    // First, so the kubelet starts it before the job's containers.
    ops.push_back(addOp("/spec/containers/0", sidecar));
    // --exit-when-done watches the other containers' processes.
    ops.push_back(addOp("/spec/shareProcessNamespace", true));
  }
  return plan;
}

}  // namespace tollgate::controlplane::webhook
