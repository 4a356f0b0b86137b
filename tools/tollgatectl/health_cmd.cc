// `tollgatectl health`: the standard gRPC health check against a control plane.
#include <chrono>
#include <cstdio>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "common/flags.h"
#include "tools/tollgatectl/commands.h"

namespace tollgate::ctl {
namespace {

// Encodes grpc.health.v1.HealthCheckRequest{service: ""} (an empty message) and decodes the
// `status` field of HealthCheckResponse by hand, so the CLI needs no extra generated code.
int checkHealth(const std::string& target, const std::string& ca_file) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!ca_file.empty()) {
    FILE* f = std::fopen(ca_file.c_str(), "rb");
    if (f == nullptr) {
      std::fprintf(stderr, "tollgatectl: %s: cannot open file\n", ca_file.c_str());
      return 2;
    }
    std::string pem;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) pem.append(buf, n);
    std::fclose(f);
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = pem;
    creds = grpc::SslCredentials(opts);
  }
  auto channel = grpc::CreateChannel(target, creds);
  channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(3));
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer request;  // empty HealthCheckRequest
  grpc::ByteBuffer response;
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) {
    std::fprintf(stderr, "tollgatectl: %s: %s\n", target.c_str(), status.error_message().c_str());
    return 1;
  }
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // Field 1 (status), varint: tag 0x08. SERVING = 1.
  int serving = bytes.size() >= 2 && bytes[0] == 0x08 ? bytes[1] : 0;
  const char* names[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  std::printf("%s: %s\n", target.c_str(), names[serving >= 0 && serving < 4 ? serving : 0]);
  return serving == 1 ? 0 : 1;
}

}  // namespace

int runHealth(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"health"};
  for (const auto& a : args) argv.push_back(a.c_str());
  static const std::vector<FlagSpec> kSpecs = {
      {"server", true, false, "control plane HOST:PORT (default 127.0.0.1:15090)"},
      {"ca", true, false, "PEM CA to verify the control plane's TLS certificate"},
  };
  auto flags = Flags::parse(static_cast<int>(argv.size()), argv.data(), 1, kSpecs);
  if (!flags.ok()) {
    std::fprintf(stderr, "tollgatectl health: %s\n%s",
                 std::string(flags.status().message()).c_str(), Flags::usage(kSpecs).c_str());
    return 2;
  }
  return checkHealth(flags->getOr("server", "127.0.0.1:15090"), flags->getOr("ca", ""));
}

}  // namespace tollgate::ctl
