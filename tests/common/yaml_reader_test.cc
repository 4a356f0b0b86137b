// Strict YAML reading: positions, unknown keys, typed getters, durations.
#include "common/yaml_reader.h"

#include <catch2/catch_test_macros.hpp>

using namespace tollgate;

TEST_CASE("unknown keys are reported with their position and the expected keys") {
  auto node = parseYaml("a: 1\nb: 2\nzz: 3\n", "f.yaml");
  REQUIRE(node.ok());
  YamlErrors errors("f.yaml");
  YamlMap m(*node, errors, "thing");
  CHECK(m.integer("a", 0, 10) == 1);
  CHECK(m.str("b") == "2");
  m.finish();
  REQUIRE(errors.errors().size() == 1);
  CHECK(errors.toString() == "f.yaml:3:1: unknown key 'zz' in thing (expected one of: a, b)");
}

TEST_CASE("every error is collected, not only the first") {
  auto node = parseYaml("n: x\nm: 99\nb: maybe\nd: 5 minutes\n", "f.yaml");
  REQUIRE(node.ok());
  YamlErrors errors("f.yaml");
  YamlMap m(*node, errors, "t");
  CHECK_FALSE(m.integer("n", 0, 10));
  CHECK_FALSE(m.integer("m", 0, 10));
  CHECK_FALSE(m.boolean("b"));
  CHECK_FALSE(m.durationSeconds("d"));
  CHECK_FALSE(m.str("missing", true));
  m.finish();
  REQUIRE(errors.errors().size() == 5);
  CHECK(errors.errors()[0].line == 1);
  CHECK(errors.errors()[1].message == "t.m must be between 0 and 10, got 99");
  CHECK(errors.errors()[4].message == "t: missing required key 'missing'");
}

TEST_CASE("syntax errors carry file, line and column") {
  auto node = parseYaml("a: [1, 2\nb: 3\n", "p.yaml");
  REQUIRE_FALSE(node.ok());
  CHECK(std::string(node.status().message()).rfind("p.yaml:", 0) == 0);
}

TEST_CASE("a non-mapping is reported once and getters return nothing") {
  auto node = parseYaml("- 1\n- 2\n", "f.yaml");
  REQUIRE(node.ok());
  YamlErrors errors("f.yaml");
  YamlMap m(*node, errors, "root");
  CHECK_FALSE(m.ok());
  CHECK_FALSE(m.str("a"));
  m.finish();
  CHECK(errors.toString() == "f.yaml:1:1: root must be a mapping");
}

TEST_CASE("durations") {
  CHECK(parseDurationSeconds("90s") == 90);
  CHECK(parseDurationSeconds("15m") == 900);
  CHECK(parseDurationSeconds("1h30m") == 5400);
  CHECK(parseDurationSeconds("2h") == 7200);
  CHECK(parseDurationSeconds("1d") == 86400);
  CHECK(parseDurationSeconds("500ms") == 1);
  CHECK(parseDurationSeconds("42") == 42);
  CHECK_FALSE(parseDurationSeconds(""));
  CHECK_FALSE(parseDurationSeconds("m"));
  CHECK_FALSE(parseDurationSeconds("5 m"));
  CHECK_FALSE(parseDurationSeconds("5x"));
  CHECK_FALSE(parseDurationSeconds("10s5"));
  CHECK_FALSE(parseDurationSeconds("99999999999999999999h"));
}
