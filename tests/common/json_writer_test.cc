// json::Writer: the escaping it writes through a raw buffer matches a byte-at-a-time reading,
// at any length, across its 16 KiB pieces, and after what the string already held.
#include "common/json_writer.h"

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/utf8.h"

namespace tollgate {
namespace {

// The plain reading of RFC 8259 escaping, one byte or sequence at a time.
std::string reference(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t len = utf8::sequenceLength(s, i);
      if (len == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.substr(i, len));
        i += len - 1;
      }
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

std::string written(std::string_view s, std::string prefix = {}) {
  {
    json::Writer w(prefix);
    w.string(s);
  }
  return prefix;
}

TEST_CASE("json::Writer escapes random text as the byte-at-a-time reading does") {
  // Mostly plain text, with every kind of byte that needs a look.
  const std::vector<std::string> parts = {"SELECT ",
                                          "abalance",
                                          " = $1",
                                          "\"",
                                          "\\",
                                          "\n",
                                          "\t",
                                          std::string(1, '\0'),
                                          "\x1f",
                                          "\x7f",
                                          "\xc3\xa9",
                                          "\xe2\x82\xac",
                                          "\xf0\x9f\x92\xb3",
                                          "\xff",
                                          "\x80",
                                          "\xc3",
                                          "\xe2\x82",
                                          "\xed\xa0\x80"};
  std::mt19937 rng(7);
  for (size_t n : {0u, 1u, 7u, 8u, 15u, 16u, 17u, 31u, 100u, 5000u, 40000u, 70000u}) {
    for (int round = 0; round < 20; ++round) {
      std::string s;
      while (s.size() < n) {
        const auto pick = rng() % 10;
        s += pick < 6 ? parts[pick % 3] : parts[rng() % parts.size()];
      }
      INFO("length " << s.size() << " round " << round);
      CHECK(written(s) == reference(s));
    }
  }
}

TEST_CASE("json::Writer keeps a UTF-8 sequence whole across its 16 KiB pieces") {
  // A multi-byte sequence (or a stray run of continuation bytes) at every offset around the
  // piece boundary.
  for (const std::string& seq :
       {std::string("\xe2\x82\xac"), std::string("\xf0\x9f\x92\xb3"), std::string("\xc3\xa9"),
        std::string("\x80\x80\x80"), std::string("\xe2\x82")}) {
    for (size_t at = 16 * 1024 - 5; at <= 16 * 1024 + 1; ++at) {
      const std::string s = std::string(at, 'a') + seq + std::string(100, 'b');
      INFO("at " << at);
      CHECK(written(s) == reference(s));
    }
  }
}

TEST_CASE("json::Writer appends after what the string held, and trims what it did not write") {
  std::string out = "{\"a\":";
  {
    json::Writer w(out);
    w.string("x\"y");
    w.put(',');
    w.key("n", /*first=*/true);
    w.number(uint64_t{18446744073709551615ULL});
    w.key("m", /*first=*/false);
    w.number(int64_t{-9223372036854775807LL - 1});
    w.put('}');
  }
  CHECK(out == R"({"a":"x\"y","n":18446744073709551615,"m":-9223372036854775808})");
  CHECK(written("tail", "head ") == "head \"tail\"");
}

}  // namespace
}  // namespace tollgate
