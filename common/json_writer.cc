// JSON writer: string escaping over a raw buffer.
#include "common/json_writer.h"

#include <algorithm>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/utf8.h"

namespace tollgate::json {
namespace {

// A string is escaped in pieces of this many bytes (plus the rest of a UTF-8 sequence), so
// the room made for the worst case (6 output bytes per input byte) stays small.
constexpr size_t kPiece = 16 * 1024;
constexpr size_t kMaxEscaped = 6;  // "\u00XX" for one control byte, "\ufffd" for a bad one

// Whether a byte needs a look: a control character, '"', '\\', or a byte of a multi-byte
// UTF-8 sequence (which may be ill-formed).
constexpr bool needsLook(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80; }

struct LookTable {
  bool at[256];
  constexpr LookTable() : at() {
    for (int c = 0; c < 256; ++c) at[c] = needsLook(static_cast<unsigned char>(c));
  }
};
constexpr LookTable kLook;

// RFC 8259's two-character escapes, by the byte they stand for (0: none, "\u00XX" then).
struct ShortEscapes {
  char letter[0x60] = {};
  constexpr ShortEscapes() {
    letter['"'] = '"';
    letter['\\'] = '\\';
    letter['\n'] = 'n';
    letter['\r'] = 'r';
    letter['\t'] = 't';
  }
};
constexpr ShortEscapes kShortEscapes;

// Whether none of the 8 bytes at `p` needs a look (the "has a zero byte" bit trick, on the
// bytes xor'ed with each value looked for).
bool plain8(const char* p) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  auto hasZero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  // Below 0x20 (no high bit): subtracting 0x20 borrows into the high bit.
  const uint64_t control = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | control | hasZero(w ^ (kOnes * '"')) | hasZero(w ^ (kOnes * '\\'))) == 0;
}

#if defined(__SSE2__)
// The same for 16 bytes. As signed bytes, 0x80 and above are negative: one compare catches
// them with the control characters.
bool plain16(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i look = _mm_or_si128(
      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
  return _mm_movemask_epi8(look) == 0;
}
#endif

// The first byte at or after `i` that needs a look, or s.size().
size_t nextLook(std::string_view s, size_t i) {
  const char* p = s.data();
  const size_t n = s.size();
#if defined(__SSE2__)
  while (i + 16 <= n && plain16(p + i)) i += 16;
#endif
  while (i + 8 <= n && plain8(p + i)) i += 8;
  while (i < n && !kLook.at[static_cast<unsigned char>(p[i])]) ++i;
  return i;
}

// Writes `s` escaped at `out`, which has room for kMaxEscaped bytes per byte of `s`; returns
// the end. `s` does not end inside a UTF-8 sequence that continues after it.
char* escape(std::string_view s, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto copy = [&](size_t from, size_t to) {
    std::memcpy(out, s.data() + from, to - from);
    out += to - from;
  };
  size_t run = 0;  // start of the bytes not yet written
  // Most text needs no escaping: runs of plain bytes are found a word at a time (audit events
  // write every statement's text) and copied in one go.
  for (size_t i = nextLook(s, 0); i < s.size(); i = nextLook(s, i + 1)) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (const size_t len = utf8::sequenceLength(s, i); len != 0) {
        i += len - 1;
        continue;
      }
      copy(run, i);
      run = i + 1;
      std::memcpy(out, "\\ufffd", 6);
      out += 6;
      continue;
    }
    copy(run, i);
    run = i + 1;
    if (const char letter = kShortEscapes.letter[c]) {
      out[0] = '\\';
      out[1] = letter;
      out += 2;
    } else {
      std::memcpy(out, "\\u00", 4);
      out[4] = kHex[c >> 4];
      out[5] = kHex[c & 0xf];
      out += 6;
    }
  }
  copy(run, s.size());
  return out;
}

}  // namespace

void Writer::grow(size_t n) {
  // A little slack, so that a run of small fields does not resize for each; std::string
  // doubles its capacity when it reallocates.
  out_.resize(used_ + n + 256);
}

void Writer::string(std::string_view s) {
  put('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t end = std::min(s.size(), i + kPiece);
    // Continuation bytes stay with their sequence's first byte.
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) ++end;
    const std::string_view piece = s.substr(i, end - i);
    used_ = static_cast<size_t>(escape(piece, room(kMaxEscaped * piece.size())) - out_.data());
    i = end;
  }
  put('"');
}

}  // namespace tollgate::json
