// UTF-8 checks used wherever peer bytes become JSON or proto3 strings.
#include <catch2/catch_test_macros.hpp>

#include <string>

#include "common/utf8.h"

namespace tollgate::utf8 {
namespace {

TEST_CASE("well-formed UTF-8 is told from what is not") {
  CHECK(valid(""));
  CHECK(valid("plain ascii"));
  CHECK(valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x92\xB3"));  // 2, 3 and 4 bytes
  CHECK_FALSE(valid("caf\xE9"));                              // Latin-1
  CHECK_FALSE(valid("\xC3"));                                 // cut short
  CHECK_FALSE(valid("\xC0\xAF"));                             // overlong '/'
  CHECK_FALSE(valid("\xE0\x80\xAF"));                         // overlong, three bytes
  CHECK_FALSE(valid("\xED\xA0\x80"));                         // a surrogate
  CHECK_FALSE(valid("\xF4\x90\x80\x80"));                     // past U+10FFFF
  CHECK_FALSE(valid("\x80"));                                 // a lone continuation byte
}

TEST_CASE("repair replaces each bad byte with U+FFFD and keeps the rest") {
  CHECK(repair("ok") == "ok");
  CHECK(repair("caf\xE9!") == "caf\xEF\xBF\xBD!");
  CHECK(repair("\xFF\xFE") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(repair("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // a truncated euro sign
  CHECK(valid(repair("\xC0\xAF\xED\xA0\x80 x")));
}

TEST_CASE("a prefix never cuts a character in two") {
  const std::string euro = "\xE2\x82\xAC";
  const std::string s = "ab" + euro + "cd";
  CHECK(prefix(s, 100) == s);
  CHECK(prefix(s, 2) == "ab");
  CHECK(prefix(s, 3) == "ab");
  CHECK(prefix(s, 4) == "ab");
  CHECK(prefix(s, 5) == "ab" + euro);
  CHECK(prefix(s, 0).empty());
}

}  // namespace
}  // namespace tollgate::utf8
