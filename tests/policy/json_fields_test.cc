// Tests for field-aware JSON masking (json_fields.h): column rules on object keys, detector scans
// of strings/numbers/keys, malformed input and nesting limits.
#include "policy/mask/json_fields.h"

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/log.h"
#include "policy/detect/pan.h"

namespace tollgate::policy {
namespace {

MaskerPtr testMasker() {
  MaskAction redact;
  redact.kind = MaskAction::Kind::kRedact;
  MaskAction pci;
  auto m = Masker::compile({{"cvv", "", {"cvv", "cvc*"}, redact},
                            {"card-number", "", {"*card_number*"}, pci},
                            {"pan", "pan", {}, pci}},
                           {});
  REQUIRE(m.ok());
  return *m;
}

struct Case {
  const char* name;
  std::string input;
  std::string expected;  // empty: unchanged
};

const std::string kPan = "4111111111111111";
const std::string kMasked = "411111******1111";

std::vector<Case> cases() {
  return {
      {"column rule on a key", R"({"cvv": "605"})", R"({"cvv": "***"})"},
      {"row_to_json of a card row", R"({"id":1,"pan":")" + kPan + R"(","cvv":"605"})",
       R"({"id":1,"pan":")" + kMasked + R"(","cvv":"***"})"},
      {"key rule is case-insensitive", R"({"CVV":"605"})", R"({"CVV":"***"})"},
      {"glob rule", R"({"card_number_2":")" + kPan + R"("})",
       R"({"card_number_2":")" + kMasked + R"("})"},
      {"json_agg of rows", R"([{"cvv":"605"},{"cvv":"123"}])", R"([{"cvv":"***"},{"cvv":"***"}])"},
      {"nested objects and arrays", R"({"a":{"b":[1,{"cvc2":"999"}]},"c":[]})",
       R"({"a":{"b":[1,{"cvc2":"***"}]},"c":[]})"},
      {"escaped key", R"({"c\u0076v":"605"})", R"({"c\u0076v":"***"})"},
      {"duplicate keys", R"({"cvv":"1","cvv":"22"})", R"({"cvv":"*","cvv":"**"})"},
      {"number under a rule", R"({"cvv":605})", R"({"cvv":"***"})"},
      {"boolean under a rule", R"({"cvv":true})", R"({"cvv":"****"})"},
      {"null under a rule stays null", R"({"cvv":null})", ""},
      {"object under a rule", R"({"cvv":{"x":1}})", R"({"cvv":"*******"})"},
      {"array under a rule", R"({"cvv":["1","2"]})", R"({"cvv":"*********"})"},
      {"nested key inside a masked value", R"({"cvv":{"cvv":"1"}})", R"({"cvv":"***********"})"},
      {"card number as a JSON number", R"({"n":)" + kPan + "}", R"({"n":")" + kMasked + R"("})"},
      {"card number in a key", R"({")" + kPan + R"(":1})", R"({")" + kMasked + R"(":1})"},
      {"escaped card number", R"(["411111111111111\u0031"])", R"([")" + kMasked + R"("])"},
      {"statistics values of any column are masked whole (to_json of a pg_stats row)",
       R"({"attname":"cvv","histogram_bounds":["123","456"],"null_frac":0})",
       R"({"attname":"cvv","histogram_bounds":"*************","null_frac":0})"},
      {"whitespace kept", "{ \"cvv\" :\n \"605\" , \"x\" : [ 1 , 2 ] }",
       "{ \"cvv\" :\n \"***\" , \"x\" : [ 1 , 2 ] }"},
      {"masked value re-escaped", R"({"cvv":"a\"b\\"})", R"({"cvv":"****"})"},
      {"top-level string", "\"" + kPan + "\"", "\"" + kMasked + "\""},
      {"top-level number", kPan, "\"" + kMasked + "\""},
      {"nothing to mask", R"({"a":[1.5e3,-0.25,true,false,null,"x"],"b":{}})", ""},
      {"unicode kept", R"({"name":"Zoë \u00e9","cvv":"1"})", R"({"name":"Zoë \u00e9","cvv":"*"})"},
  };
}

// Regression: a card number written as a JSON number in exponent or decimal form (json keeps
// the text as given; to_json(x::float8) writes 4.111111111111111e+15) reached the client in
// clear, because only the plain digit form was scanned.
std::vector<Case> exponentCases() {
  return {
      {"float8 text output", R"({"n":4.111111111111111e+15})", R"({"n":")" + kMasked + R"("})"},
      {"exponent without sign", R"({"n":4.111111111111111e15})", R"({"n":")" + kMasked + R"("})"},
      {"capital E", R"([4.111111111111111E15])", R"([")" + kMasked + R"("])"},
      {"mantissa not normalised", R"([41111111111111.11e2])", R"([")" + kMasked + R"("])"},
      {"implied trailing zeros", R"([5.55555555518e15])", R"(["555555******0000"])"},
      {"zero fraction", R"([4111111111111111.000])", R"([")" + kMasked + R"(.000"])"},
      {"negative keeps its sign", R"([-4.111111111111111e15])", R"(["-)" + kMasked + R"("])"},
      {"top-level exponent number", "4.111111111111111e15", "\"" + kMasked + "\""},
      {"other numbers untouched", R"([4.111111111111111e14,4.1111111111111111e15,1e300,-0.0])", ""},
      {"not integral", R"([4111111111111111.5,4.1111111111111115e15])", ""},
  };
}

// Runs each case through maskJsonFields: unchanged ones leave `out` alone and hit no rule,
// rewritten ones are valid JSON and report a rule (`rule` when given).
void checkCases(const std::vector<Case>& cases, const std::string& rule = "") {
  MaskerPtr masker = testMasker();
  for (const Case& c : cases) {
    INFO(c.name);
    MaskerJsonValueMasker hooks(*masker);
    std::string out = "untouched";
    const JsonRewrite r = maskJsonFields(c.input, hooks, &out);
    if (c.expected.empty()) {
      CHECK(r == JsonRewrite::kUnchanged);
      CHECK(out == "untouched");
      CHECK(hooks.ruleHit().empty());
      continue;
    }
    REQUIRE(r == JsonRewrite::kRewritten);
    CHECK(out == c.expected);
    CHECK(nlohmann::json::accept(out));
    CHECK_FALSE(containsPan(out));
    const std::string hit = hooks.takeRuleHit();
    CHECK_FALSE(hit.empty());
    if (!rule.empty()) CHECK(hit == rule);
  }
}

TEST_CASE("card numbers in exponent-form JSON numbers are masked") {
  checkCases(exponentCases(), "pan");
}

TEST_CASE("maskJsonFields applies key rules and detectors") { checkCases(cases()); }

TEST_CASE("to_jsonb of a card row no longer shows the cvv") {
  // select to_jsonb(c) from cards c: jsonb text output, keys sorted, one space after ':'.
  MaskerPtr masker = testMasker();
  MaskerJsonValueMasker hooks(*masker);
  const std::string in = R"({"id": 1, "cvv": "605", "pan": ")" + kPan + R"(", "exp": "12/29"})";
  std::string out;
  REQUIRE(maskJsonFields(in, hooks, &out) == JsonRewrite::kRewritten);
  const auto j = nlohmann::json::parse(out);
  CHECK(j["cvv"] == "***");
  CHECK(j["pan"] == kMasked);
  CHECK(j["exp"] == "12/29");
  CHECK(hooks.takeRuleHit() == "cvv");
  CHECK(hooks.ruleHit().empty());
  REQUIRE(maskJsonFields(R"({"p": ")" + kPan + R"("})", hooks, &out) == JsonRewrite::kRewritten);
  CHECK(hooks.takeRuleHit() == "pan");
}

TEST_CASE("malformed JSON is reported as not JSON") {
  MaskerPtr masker = testMasker();
  const std::vector<std::string> bad = {
      "",
      "  ",
      R"({"cvv":})",
      R"({"a" 1})",
      "[1,]",
      R"({"a":1}x)",
      "\"abc",
      "01",
      "[1 2]",
      "{]",
      "tru",
      R"("\x")",
      "\"a\x01\"",
      R"({"a":1,})",
      "{1:2}",
      "[",
      "-",
      "1.",
      "1e",
      R"("\u12")",
      "]",
      R"({"a":1}})",
      R"({"cvv":"605")",
      "nul",
      "[1]]",
  };
  for (const std::string& b : bad) {
    INFO(b);
    MaskerJsonValueMasker hooks(*masker);
    std::string out = "untouched";
    CHECK(maskJsonFields(b, hooks, &out) == JsonRewrite::kNotJson);
    CHECK(out == "untouched");
  }
}

TEST_CASE("deep nesting is masked up to the limit and refused beyond it") {
  MaskerPtr masker = testMasker();
  auto nested = [](size_t depth) {
    std::string s;
    for (size_t i = 1; i < depth; ++i) s += "[";
    s += R"({"cvv":"605"})";
    for (size_t i = 1; i < depth; ++i) s += "]";
    return s;
  };
  MaskerJsonValueMasker hooks(*masker);
  std::string out;
  REQUIRE(maskJsonFields(nested(kMaxJsonDepth), hooks, &out) == JsonRewrite::kRewritten);
  CHECK(out.find(R"({"cvv":"***"})") != std::string::npos);
  CHECK(out.size() == nested(kMaxJsonDepth).size());
  CHECK(maskJsonFields(nested(kMaxJsonDepth + 1), hooks, &out) == JsonRewrite::kNotJson);
}

TEST_CASE("key rules still apply once the key cache is full") {
  MaskerPtr masker = testMasker();
  MaskerJsonValueMasker hooks(*masker);
  std::string in = "{";
  for (int i = 0; i < 600; ++i) in += "\"k" + std::to_string(i) + "\":1,";
  in += R"("cvv":"605","k1":1})";
  std::string out;
  REQUIRE(maskJsonFields(in, hooks, &out) == JsonRewrite::kRewritten);
  CHECK(out.find(R"("cvv":"***","k1":1})") != std::string::npos);
  CHECK(out.size() == in.size());
}

// Records what maskJsonFields asks of its hooks.
class RecordingHooks : public JsonValueMasker {
 public:
  const MaskingRuleSpec* fieldRule(std::string_view key) override {
    keys.emplace_back(key);
    return key == "secret" ? &rule : nullptr;
  }
  std::optional<std::string> maskField(const MaskingRuleSpec&, std::string_view value) override {
    fields.emplace_back(value);
    return std::string("X");
  }
  std::optional<std::string> maskScalar(std::string_view text) override {
    scalars.emplace_back(text);
    return std::nullopt;
  }
  MaskingRuleSpec rule;
  std::vector<std::string> keys;
  std::vector<std::string> fields;
  std::vector<std::string> scalars;
};

TEST_CASE("hooks see decoded keys and strings, raw numbers, and nothing inside masked values") {
  RecordingHooks hooks;
  std::string out;
  const std::string in =
      R"({"s\u0065cret":{"inner":"x","n":[1]},"a":"q\n\u00e9","b":-1.5e2,"c":[true,null]})";
  REQUIRE(maskJsonFields(in, hooks, &out) == JsonRewrite::kRewritten);
  CHECK(out == R"({"s\u0065cret":"X","a":"q\n\u00e9","b":-1.5e2,"c":[true,null]})");
  CHECK(hooks.keys == std::vector<std::string>{"secret", "a", "b", "c"});
  CHECK(hooks.fields == std::vector<std::string>{R"({"inner":"x","n":[1]})"});
  // -1.5e2 is seen as written, then as the integer it stands for.
  CHECK(hooks.scalars ==
        std::vector<std::string>{"secret", "a", "q\n\xc3\xa9", "b", "-1.5e2", "150", "c"});
}

TEST_CASE("surrogate pairs decode to UTF-8 and lone surrogates to U+FFFD") {
  RecordingHooks hooks;
  std::string out;
  REQUIRE(maskJsonFields(R"(["\ud83d\ude00","\ud800x"])", hooks, &out) == JsonRewrite::kUnchanged);
  CHECK(hooks.scalars == std::vector<std::string>{"\xf0\x9f\x98\x80", "\xef\xbf\xbdx"});
}

TEST_CASE("rewritten strings escape quotes, backslashes and control characters") {
  // The rewriter writes strings with the log's JSON string writer.
  std::string out;
  log::appendJsonString(out, std::string("a\"b\\c\n\x01", 7));
  CHECK(out == R"("a\"b\\c\n\u0001")");
  CHECK(nlohmann::json::parse(out).get<std::string>() == std::string("a\"b\\c\n\x01", 7));
}

}  // namespace
}  // namespace tollgate::policy
