// Credential files: both formats, rotation by content change, errors that never echo secrets.
#include "sidecar/credentials.h"

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

TEST_CASE("a changed file rotates the credential for the next session") {
  tollgate::testing::TempDir dir;
  auto path = dir.write("cred", "app:one\n");
  FileCredentialStore store({{"db", path}});
  auto first = store.get("db");
  REQUIRE(first.ok());
  CHECK(first->password == "one");
  // Same size, new content: the modification time tells the store to re-read.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  dir.write("cred", "app:two\n");
  auto second = store.get("db");
  REQUIRE(second.ok());
  CHECK(second->password == "two");
  CHECK(second->generation == first->generation + 1);
  CHECK(store.get("db")->generation == second->generation);
  CHECK_FALSE(store.get("other").ok());
  std::filesystem::remove(path);
  CHECK(absl::IsUnavailable(store.get("db").status()));
}
