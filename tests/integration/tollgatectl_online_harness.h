// Test harness for tollgatectl against a real control plane: RS256 tokens minted with a key the
// test generates (JWKS file), a bootstrap token, a config, the process, and CLI runners.
#pragma once

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "tests/controlplane/jwt_test_signer.h"
#include "tests/support/pki.h"
#include "tests/support/test_support.h"

namespace tollgate::testing {

// An RSA key that signs RS256 tokens, and its public JWK (tests/controlplane/jwt_test_signer.h).
class RsaSigner {
 public:
  explicit RsaSigner(std::string kid) : kid_(std::move(kid)), key_(newRsaKey()) {}

  Json jwk() const {
    Json j = publicJwk(key_.get(), kid_);
    j["alg"] = "RS256";
    return j;
  }
  std::string mint(const Json& claims) const { return mintJwt(key_.get(), "RS256", kid_, claims); }

 private:
  std::string kid_;
  EvpPkeyPtr key_;
};

inline constexpr const char* kIssuer = "https://idp.tollgate.test";
inline constexpr const char* kAudience = "tollgate-cli";

// A real tollgate-controlplane on loopback (plaintext) with a temp data dir, a bootstrap token
// file, and one human issuer whose JWKS file holds `signer`'s key. IdP groups map to roles:
// sec-admins -> admin, editors -> policy-editor, dba -> approver, auditors -> auditor.
// With `tls` the gRPC port serves the test PKI's server certificate (see pki()).
class ControlPlaneUnderTest {
 public:
  explicit ControlPlaneUnderTest(bool tls = false) : signer_("test-key-1") {
    std::string tls_yaml;
    if (tls) {
      pki_ = writeTestPki(dir_.path() / "pki");
      tls_yaml = ", tls: {cert: " + pki_.server_cert + ", key: " + pki_.server_key + "}";
    }
    bootstrap_ = "bootstrap-" + std::string(40, 'x') + std::to_string(freePort());
    dir_.write("bootstrap-token", bootstrap_ + "\n");
    dir_.write("jwks.json", Json{{"keys", Json::array({signer_.jwk()})}}.dump());
    grpc_port_ = freePort();
    admin_port_ = freePort();
    std::string d = dir_.path().string();
    config_ = dir_.write(
        "cp.yaml", "grpc: {address: 127.0.0.1, port: " + std::to_string(grpc_port_) + tls_yaml +
                       "}\nadmin: {address: 127.0.0.1, port: " + std::to_string(admin_port_) +
                       "}\ndataDir: " + d + "/data\nidentity:\n  bootstrapTokenFile: " + d +
                       "/bootstrap-token\n  groupRoles: {sec-admins: [admin], editors: "
                       "[policy-editor], dba: [approver], auditors: [auditor]}\n  issuers:\n"
                       "    - {issuer: \"" +
                       kIssuer + "\", kind: human, audience: " + kAudience + ", jwksFile: " + d +
                       "/jwks.json}\n");
    std::filesystem::create_directories(dir_.path() / "data");
    start();
  }

  void start() {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{binPath("tollgate-controlplane"), "--config", config_},
        (dir_.path() / ("cp" + std::to_string(++starts_) + ".log")).string());
    if (!waitHealthy(admin_port_)) FAIL("control plane did not start:\n" << process_->log());
  }
  void stop() { process_.reset(); }

  std::string server() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  const std::string& bootstrapToken() const { return bootstrap_; }
  const TempDir& dir() const { return dir_; }
  const TestPki& pki() const { return pki_; }
  std::string log() const { return process_ ? process_->log() : ""; }

  // An OIDC ID token for a person in `groups`, valid for an hour.
  std::string humanToken(const std::string& user, const std::vector<std::string>& groups) const {
    long now = static_cast<long>(std::time(nullptr));
    return signer_.mint({{"iss", kIssuer},
                         {"sub", "user-" + user},
                         {"aud", kAudience},
                         {"email", user + "@example.test"},
                         {"groups", groups},
                         {"iat", now},
                         {"exp", now + 3600}});
  }

 private:
  TempDir dir_;
  TestPki pki_;
  RsaSigner signer_;
  std::string bootstrap_;
  std::string config_;
  int grpc_port_ = 0;
  int admin_port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

// Runs tollgatectl with TOLLGATE_CONFIG=`config` and no TOLLGATE_SERVER / TOLLGATE_TOKEN.
inline RunResult ctlWith(const std::string& config, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/env", "TOLLGATE_CONFIG=" + config,
                                   "TOLLGATE_SERVER=", "TOLLGATE_TOKEN="};
  // Under LeakSanitizer: gRPC's teardown at exit (tests/lsan_grpc_client.supp).
  if (std::getenv("LSAN_OPTIONS") != nullptr) {
    argv.push_back("LSAN_OPTIONS=suppressions=" + sourcePath("tests/lsan_grpc_client.supp") +
                   ":print_suppressions=0");
  }
  argv.push_back(binPath("tollgatectl"));
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, "", std::chrono::seconds(30));
  if (r.exit_code < 0) {
    // A crash (a sanitizer report ends in SIGABRT) is reported with the next assertion, whatever
    // that assertion looks at: the caller may only check stdout.
    std::ostringstream cmd;
    for (const std::string& a : args) cmd << ' ' << a;
    UNSCOPED_INFO("tollgatectl" << cmd.str() << " ended with signal " << -r.exit_code
                                << "; stderr:\n"
                                << r.err);
  }
  return r;
}

// One parsed JSON object per non-empty output line.
inline std::vector<Json> jsonLines(const std::string& out) {
  std::vector<Json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(Json::parse(line));
  }
  return lines;
}

// A person logged in with their own config file.
struct User {
  std::string config;
  RunResult operator()(const std::vector<std::string>& args) const { return ctlWith(config, args); }
};

// Logs `name` in (token from `token`) with a config file in the control plane's temp dir.
inline User loginAs(const ControlPlaneUnderTest& cp, const std::string& name,
                    const std::string& token) {
  User u{(cp.dir().path() / (name + "-ctl.yaml")).string()};
  std::string token_file = cp.dir().write(name + ".token", token);
  RunResult r = u({"login", "--server", cp.server(), "--token-file", token_file});
  INFO(r.err << cp.log());
  REQUIRE(r.exit_code == 0);
  return u;
}

}  // namespace tollgate::testing
