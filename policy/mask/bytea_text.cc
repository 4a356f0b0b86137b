// Hex-format bytea runs inside text, decoded for the detectors and re-encoded masked.
#include "policy/mask/bytea_text.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "policy/detect/text_splicer.h"

namespace tollgate::policy {

std::optional<std::string> maskByteaHex(std::string_view text, const ByteaMasker& mask) {
  static constexpr size_t kMinHexDigits = 24;
  TextSplicer out(text);
  size_t pos = 0;
  while ((pos = text.find("\\x", pos)) != std::string_view::npos) {
    const size_t begin = pos + 2;
    size_t end = begin;
    while (end < text.size() && absl::ascii_isxdigit(static_cast<unsigned char>(text[end]))) ++end;
    pos = end;
    const size_t len = (end - begin) & ~size_t{1};
    if (len < kMinHexDigits) continue;
    auto masked = mask(absl::HexStringToBytes(absl::string_view(text.data() + begin, len)));
    if (!masked) continue;
    out.replace(begin, begin + len, absl::BytesToHexString(*masked));
  }
  return out.finish();
}

std::optional<std::string> maskByteaEscape(std::string_view text, const ByteaMasker& mask) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string raw;
  raw.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      raw.push_back(text[i]);
    } else if (i + 1 < text.size() && text[i + 1] == '\\') {
      raw.push_back('\\');
      ++i;
    } else if (i + 3 < text.size() && octal(text[i + 1]) && octal(text[i + 2]) &&
               octal(text[i + 3])) {
      raw.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                      (text[i + 3] - '0')));
      i += 3;
    } else {
      return std::nullopt;  // not escape format
    }
  }
  auto masked = mask(raw);
  if (!masked) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (char c : *masked) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (u >= 0x20 && u < 0x7f) {
      out.push_back(c);
    } else {
      out.push_back('\\');
      out.push_back(static_cast<char>('0' + (u >> 6)));
      out.push_back(static_cast<char>('0' + ((u >> 3) & 7)));
      out.push_back(static_cast<char>('0' + (u & 7)));
    }
  }
  return out;
}

}  // namespace tollgate::policy
