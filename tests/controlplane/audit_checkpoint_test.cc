// Checkpoint keys (Ed25519, generated on first start, 0600) and periodic/manual checkpoints.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>

#include "controlplane/audit/checkpoint.h"
#include "tests/controlplane/audit_testing.h"
#include "tests/support/test_support.h"

namespace tollgate::controlplane::audit {
namespace {

using testing::kinds;
using testing::makeEvents;
using testing::openStore;
using testing::RawDb;
using testing::verifyAll;

std::string ecKeyPem() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

TEST_CASE("signatures verify only for the signed message") {
  auto key = CheckpointKey::generate().value();
  Checkpoint cp{CheckpointKind::kPeriodic, 1000, chainHash(kZeroHash, "x"), 1735689600000000};
  std::string msg = checkpointMessage(cp);
  CHECK(msg.size() == 29 + 1 + 8 + 32 + 8);
  CHECK(msg.substr(0, 29) == std::string("tollgate-audit-checkpoint-v1", 28) + '\0');
  std::string sig = key->sign(msg).value();
  CHECK(sig.size() == 64);
  CHECK(key->verify(msg, sig));
  for (Checkpoint other : {Checkpoint{CheckpointKind::kManual, 1000, cp.record_hash, cp.time_us},
                           Checkpoint{cp.kind, 999, cp.record_hash, cp.time_us},
                           Checkpoint{cp.kind, 1000, kZeroHash, cp.time_us},
                           Checkpoint{cp.kind, 1000, cp.record_hash, cp.time_us + 1}}) {
    CHECK_FALSE(key->verify(checkpointMessage(other), sig));
  }
  std::string bad = sig;
  bad[10] ^= 1;
  CHECK_FALSE(key->verify(msg, bad));
  CHECK_FALSE(CheckpointKey::generate().value()->verify(msg, sig));
}

TEST_CASE("a key is generated with mode 0600 on first start and reloaded after") {
  tollgate::testing::TempDir dir;
  std::string path = (dir.path() / "k.pem").string();
  auto first = CheckpointKey::loadOrCreate(path);
  REQUIRE(first.ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = CheckpointKey::loadOrCreate(path);
  REQUIRE(again.ok());
  CHECK((*again)->keyId() == (*first)->keyId());
  std::string sig = (*first)->sign("m").value();
  CHECK((*again)->verify("m", sig));

  auto pub = CheckpointKey::fromPem((*first)->publicKeyPem());
  REQUIRE(pub.ok());
  CHECK_FALSE((*pub)->canSign());
  CHECK((*pub)->verify("m", sig));
  CHECK((*pub)->keyId() == (*first)->keyId());
}

TEST_CASE("a key readable by others or of the wrong type is refused") {
  tollgate::testing::TempDir dir;
  std::string path = (dir.path() / "k.pem").string();
  REQUIRE(CheckpointKey::loadOrCreate(path).ok());
  ::chmod(path.c_str(), 0644);
  CHECK(CheckpointKey::loadOrCreate(path).status().code() == absl::StatusCode::kPermissionDenied);
  std::string ec = dir.write("ec.pem", ecKeyPem());
  ::chmod(ec.c_str(), 0600);
  CHECK(CheckpointKey::loadOrCreate(ec).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(CheckpointKey::fromPem("not a key").status().code() == absl::StatusCode::kInvalidArgument);
}

// Review: with the chart's fsGroup, Kubernetes mounts the signing-key Secret 0440 and the
// control plane refused to start, as it refused any group access.
TEST_CASE("a key its group can read is accepted; group write or any access by others is not") {
  tollgate::testing::TempDir dir;
  std::string path = (dir.path() / "k.pem").string();
  auto first = CheckpointKey::loadOrCreate(path);
  REQUIRE(first.ok());
  for (mode_t allowed : {0600, 0400, 0640, 0440}) {
    INFO("mode " << std::oct << allowed);
    ::chmod(path.c_str(), allowed);
    auto key = CheckpointKey::loadOrCreate(path);
    REQUIRE(key.ok());
    CHECK((*key)->keyId() == (*first)->keyId());
  }
  for (mode_t refused : {0660, 0620, 0604, 0602, 0601, 0644, 0664, 0666}) {
    INFO("mode " << std::oct << refused);
    ::chmod(path.c_str(), refused);
    auto key = CheckpointKey::loadOrCreate(path);
    CHECK(key.status().code() == absl::StatusCode::kPermissionDenied);
    CHECK(key.status().message().find("chmod 600") != std::string_view::npos);
  }
}

TEST_CASE("a periodic checkpoint is written every N records") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string(), 10);
  REQUIRE(store->append(makeEvents(1, 7)).ok());
  REQUIRE(store->append(makeEvents(8, 18)).ok());  // to 25
  VerifyReport r = verifyAll(*store);
  CHECK(r.ok);
  CHECK(r.checkpoints_checked == 2);
  RawDb raw(store->databasePath());
  CHECK(raw.queryInt("SELECT COUNT(*) FROM audit_checkpoints") == 2);
  CHECK(raw.queryInt("SELECT MAX(up_to_seq) FROM audit_checkpoints") == 20);
  // The counter survives a restart: 5 more reach the next checkpoint at 30.
  store.reset();
  store = openStore(dir.path().string(), 10);
  REQUIRE(store->append(makeEvents(26, 5)).ok());
  CHECK(RawDb(store->databasePath()).queryInt("SELECT MAX(up_to_seq) FROM audit_checkpoints") ==
        30);
}

TEST_CASE("checkpoints signed by another key are reported as bad signatures") {
  tollgate::testing::TempDir dir;
  {
    auto store = openStore(dir.path().string(), 5);
    REQUIRE(store->append(makeEvents(1, 10)).ok());
  }
  // The key file is replaced (e.g. an attacker re-signing with their own key).
  std::filesystem::remove(dir.path() / "audit-signing-key.pem");
  auto store = openStore(dir.path().string(), 5);
  CHECK(kinds(verifyAll(*store)) ==
        std::vector<std::pair<uint64_t, ProblemKind>>{{5, ProblemKind::kBadSignature},
                                                      {10, ProblemKind::kBadSignature}});
}

TEST_CASE("a manual checkpoint on an empty store writes nothing") {
  tollgate::testing::TempDir dir;
  auto store = openStore(dir.path().string());
  CHECK(store->checkpoint().value() == 0);
  CHECK(verifyAll(*store).checkpoints_checked == 0);
}

}  // namespace
}  // namespace tollgate::controlplane::audit
