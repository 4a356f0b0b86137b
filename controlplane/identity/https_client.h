// A minimal HTTPS GET client (OpenSSL, verify-full) for OIDC discovery and JWKS documents.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace tollgate::controlplane::identity {

struct HttpsGetOptions {
  // PEM bundle the server certificate must chain to. Required: no implicit system store.
  std::string ca_file;
  // Whole-request deadline (connect, handshake, request, response).
  std::chrono::milliseconds timeout{5000};
  // Larger bodies fail the request.
  size_t max_body_bytes = 1024 * 1024;
};

struct HttpsResponse {
  int status = 0;
  std::string body;  // de-chunked
};

// GETs `url` ("https://host[:port][/path]", host a name, IPv4 or [IPv6] literal) with
// HTTP/1.1 and "Connection: close". TLS 1.2+, the peer certificate must chain to
// options.ca_file and match the host (name or IP SAN); SNI is sent for names. Redirects are
// not followed (a 3xx comes back as is). Handles Content-Length, chunked and read-to-close
// bodies. Errors: INVALID_ARGUMENT for a bad URL, UNAVAILABLE for network, TLS, verification,
// timeout, malformed or oversized responses, each naming the host and the step. Blocks the
// calling thread for up to options.timeout; thread-safe (no shared state).
absl::StatusOr<HttpsResponse> httpsGet(const std::string& url, const HttpsGetOptions& options);

}  // namespace tollgate::controlplane::identity
