// Test PKI: writes a CA, server certificates (good, expired, foreign) as PEM files for TLS tests.
#pragma once

#include <openssl/ssl.h>

#include <filesystem>
#include <string>

namespace tollgate::testing {

// Full paths of the files writeTestPki() wrote. Every key is ECDSA P-256, PEM, mode 0600 (as
// PostgreSQL's ssl_key_file demands); certificates are PEM, signed with SHA-256.
struct TestPki {
  std::string ca_cert;            // ca.pem: "Tollgate Test CA", self-signed, CA:TRUE
  std::string ca_key;             // ca-key.pem
  std::string server_cert;        // server.pem: CN=localhost, signed by ca.pem, valid now-1h ..
                                  // now+30d, SAN DNS:localhost, IP:127.0.0.1,
                                  // DNS:payments-db.test; serverAuth + clientAuth
  std::string server_key;         // server-key.pem
  std::string expired_cert;       // expired.pem: like server.pem but valid -30d .. -1d
  std::string expired_key;        // expired-key.pem
  std::string other_ca_cert;      // other-ca.pem: "Other Test CA", unrelated to ca.pem
  std::string other_ca_key;       // other-ca-key.pem
  std::string other_server_cert;  // other-server.pem: like server.pem, signed by other-ca.pem
  std::string other_server_key;   // other-server-key.pem
};

// Generates a fresh PKI (new keys every call) into `dir` (created if missing) with the file
// names above. Throws std::runtime_error on failure (test helper, not data path).
TestPki writeTestPki(const std::filesystem::path& dir);

// A server SSL_CTX serving `cert_file` / `key_file`, protocol versions limited to
// [min_version, max_version] (0 = OpenSSL's default bound). The caller owns it (SSL_CTX_free,
// or hand it to something that adopts it). Throws std::runtime_error on failure.
SSL_CTX* newTestServerCtx(const std::string& cert_file, const std::string& key_file,
                          int min_version = 0, int max_version = 0);
// A server that speaks TLS 1.0/1.1 only, at security level 0 ("@SECLEVEL=0") so OpenSSL 3
// agrees to it: the kind of legacy upstream a PCI client must refuse.
SSL_CTX* newTls11OnlyServerCtx(const std::string& cert_file, const std::string& key_file);

}  // namespace tollgate::testing
