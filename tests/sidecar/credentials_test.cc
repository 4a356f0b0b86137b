// Credential files: both formats, rotation by content change, errors that never echo secrets.
#include "sidecar/credentials.h"

#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/test_support.h"

using tollgate::sidecar::FileCredentialStore;

TEST_CASE("both file formats parse; secrets are not echoed in errors") {
  auto plain = FileCredentialStore::parse("app:s3cr:et\n", "f");
  REQUIRE(plain.ok());
  CHECK(plain->username == "app");
  CHECK(plain->password == "s3cr:et");
  auto yaml = FileCredentialStore::parse("username: app\npassword: 'p w'\n", "f");
  REQUIRE(yaml.ok());
  CHECK(yaml->password == "p w");
  auto bad = FileCredentialStore::parse("hunter2-without-user", "/secrets/db");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("hunter2") == std::string::npos);
  CHECK(std::string(bad.status().message()).find("/secrets/db") != std::string::npos);
  CHECK_FALSE(FileCredentialStore::parse(":pw", "f").ok());
  // Review (session 24): a password containing "username" was read as YAML and refused.
  auto word = FileCredentialStore::parse("app:my_username_pw\n", "f");
  REQUIRE(word.ok());
  CHECK(word->username == "app");
  CHECK(word->password == "my_username_pw");
  auto flow = FileCredentialStore::parse("{username: app, password: 'x:y'}", "f");
  REQUIRE(flow.ok());
  CHECK(flow->username == "app");
  CHECK(flow->password == "x:y");
}

namespace {

tollgate::policy::Resource resourceWithFile(const std::string& path) {
  tollgate::policy::Resource r;
  r.name = "db";
  r.credentials.file = path;
  return r;
}

}  // namespace

TEST_CASE("a changed file rotates the credential for the next session") {
  tollgate::testing::TempDir dir;
  auto path = dir.write("cred", "app:one\n");
  FileCredentialStore store;
  const auto db = resourceWithFile(path);
  auto first = store.get(db);
  REQUIRE(first.ok());
  CHECK(first->password == "one");
  // Same size, new content: the modification time tells the store to re-read.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  dir.write("cred", "app:two\n");
  auto second = store.get(db);
  REQUIRE(second.ok());
  CHECK(second->password == "two");
  CHECK(second->generation == first->generation + 1);
  CHECK(store.get(db)->generation == second->generation);
  std::filesystem::remove(path);
  CHECK(absl::IsUnavailable(store.get(db).status()));
}

// Review (session 25): the store reads on a worker loop; a FIFO would block it.
TEST_CASE("a credential file that is not a regular file is unavailable, not read") {
  tollgate::testing::TempDir dir;
  const std::string fifo = (dir.path() / "cred").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  FileCredentialStore store;
  auto got = store.get(resourceWithFile(fifo));
  REQUIRE(absl::IsUnavailable(got.status()));
  CHECK(got.status().message() == "credential file " + fifo + ": not a regular file");
}

TEST_CASE("the credential file is the one the session's own policy names") {
  // Two policies loaded in quick succession name different files for one resource: a session
  // of each reads its own policy's file, whatever order the reloads finished in.
  tollgate::testing::TempDir dir;
  FileCredentialStore store;
  const auto before = resourceWithFile(dir.write("old", "app:old-secret\n"));
  const auto after = resourceWithFile(dir.write("new", "rotated:new-secret\n"));
  CHECK(store.get(after)->username == "rotated");
  CHECK(store.get(before)->username == "app");
  CHECK(store.get(after)->password == "new-secret");

  tollgate::policy::Resource none;
  none.name = "other";
  auto missing = store.get(none);
  REQUIRE(absl::IsNotFound(missing.status()));
  CHECK(missing.status().message() == "resource other names no credential file");
}
