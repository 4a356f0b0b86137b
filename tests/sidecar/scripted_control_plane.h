// Pieces for control planes scripted by a test (a SidecarService written in the test itself, to
// produce an exact ordering of messages or failures).
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "tollgate/v1/stream.grpc.pb.h"

namespace tollgate::sidecar::cp {

using SidecarStream = grpc::ServerReaderWriter<v1::ControlMessage, v1::SidecarMessage>;

// Reads the sidecar's Hello and answers with a Welcome for `subject` (heartbeats every 30 s,
// so none interferes). False when the first message is not a Hello.
inline bool welcomeSidecar(SidecarStream* stream, const std::string& subject) {
  v1::SidecarMessage in;
  if (!stream->Read(&in) || !in.has_hello()) return false;
  v1::ControlMessage welcome;
  welcome.mutable_welcome()->mutable_identity()->set_subject(subject);
  welcome.mutable_welcome()->set_heartbeat_seconds(30);
  return stream->Write(welcome);
}

}  // namespace tollgate::sidecar::cp
