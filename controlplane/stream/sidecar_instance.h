// The name of a sidecar stream (its audit source), derived from what the workload token proved.
#pragma once

#include <string>
#include <string_view>

#include "tollgate/v1/identity.pb.h"

namespace tollgate::controlplane::stream {

// The instance of a sidecar stream: the events' location.source, the key the audit store
// de-duplicates replays on (with source_sequence), the key of "one live stream per instance"
// and the sessions' sidecar_id. It must differ between any two sidecars whose sequence
// counters are independent, and a workload must not be able to name another one's.
//
//   pod-bound token:  "sidecar/<namespace>/<pod name>/<pod uid>"
//   otherwise:        "sidecar/principal/<issuer>/<subject>/<label>"
//
// `verified` is the identity the token proved (never a field the Hello filled in).
// `hello_instance_id` is the sidecar's own label (Hello.instance_id, "sidecar/<pod>" by
// default): ignored for pod-bound tokens, whose pod uid is new for every pod, so a recreated
// pod or a same-named pod in another namespace is another instance; without a pod it becomes
// <label> (less a leading "sidecar/"), which tells apart sidecars sharing one subject but
// cannot reach outside that subject. Each part is escaped (`%`, `/`, spaces, control and
// non-ASCII bytes as %XX), so no part can add a `/`: a pod-bound instance has three parts
// after "sidecar/" and any other has four, and different identities never meet.
std::string sidecarInstance(const v1::Identity& verified, std::string_view hello_instance_id);

}  // namespace tollgate::controlplane::stream
