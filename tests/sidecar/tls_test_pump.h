// In-memory wiring of two tls::Session objects for tests: moves ciphertext between them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "sidecar/tls/session.h"

namespace tollgate::testing {

// Ciphertext shuttled between a client and a server session, optionally in small feeds.
struct TlsPump {
  sidecar::tls::Session* client;
  sidecar::tls::Session* server;
  size_t chunk = 0;            // 0 = feed everything at once; otherwise feed in pieces of this size
  absl::Status client_status;  // first error each side reported
  absl::Status server_status;

  // Moves bytes both ways until neither side has anything to send. Returns false when a side
  // failed (see the statuses).
  bool run() {
    for (int rounds = 0; rounds < 10000; ++rounds) {
      std::string to_server, to_client;
      client->takeCiphertext(to_server);
      server->takeCiphertext(to_client);
      if (to_server.empty() && to_client.empty()) break;
      feed(*server, to_server, server_status);
      feed(*client, to_client, client_status);
    }
    return client_status.ok() && server_status.ok();
  }

 private:
  void feed(sidecar::tls::Session& to, const std::string& bytes, absl::Status& status) {
    if (!status.ok()) return;
    size_t step = chunk == 0 ? std::max<size_t>(bytes.size(), 1) : chunk;
    for (size_t off = 0; off < bytes.size() && status.ok(); off += step) {
      status = to.feedCiphertext(std::string_view(bytes).substr(off, step));
    }
  }
};

}  // namespace tollgate::testing
