// The generated gRPC service headers, with the warning their callback bases trigger silenced.
#pragma once

// gRPC's generated callback bases hide the synchronous overload of each method by design (the
// warning points into the generated header, so that is where it is silenced).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#include "tollgate/v1/approval.grpc.pb.h"
#include "tollgate/v1/audit.grpc.pb.h"
#include "tollgate/v1/grant.grpc.pb.h"
#include "tollgate/v1/policy.grpc.pb.h"
#include "tollgate/v1/session.grpc.pb.h"
#pragma GCC diagnostic pop
