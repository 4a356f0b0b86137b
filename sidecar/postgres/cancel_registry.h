// Maps the cancel keys the sidecar hands to clients to the upstream backends they stand for,
// so a CancelRequest on a new connection reaches the right server process.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "sidecar/network/address.h"
#include "sidecar/tls/client_context.h"

namespace tollgate::sidecar::postgres {

// Where to send a cancel: the upstream session's resource and its real BackendKeyData, and the
// server the session logged in to, with the TLS it used. A cancel goes there, not to where the
// resource points now: a policy reload (or a name that resolves to several addresses) would
// otherwise send the key to another server, and in clear if its TLS setting changed.
struct CancelTarget {
  std::string resource;
  int32_t process_id = 0;
  std::string secret_key;
  SocketAddress address;
  tls::ClientContextPtr tls;  // null: tls: disable
  std::string server_name;
};

// Thread-safe; shared by every worker. Keys are random (pid and secret), so a client cannot
// cancel another client's statement without knowing its secret.
class CancelRegistry {
 public:
  // Registers a target and returns the (process id, secret) the client should be given.
  std::pair<int32_t, std::string> add(CancelTarget target);
  void remove(int32_t process_id);
  // The target when both process id and secret match.
  std::optional<CancelTarget> find(int32_t process_id, const std::string& secret) const;

 private:
  struct Entry {
    std::string secret;
    CancelTarget target;
  };
  mutable std::mutex mu_;
  absl::flat_hash_map<int32_t, Entry> entries_;
};

}  // namespace tollgate::sidecar::postgres
