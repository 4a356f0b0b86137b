// The PAN scanner: SIMD skip to the next digit, then parse and judge one digit chain at a time.
//
// Shape rules (what counts as a card number; the contract in pan.h, made precise):
//  * A "chain" is a maximal run of digit groups joined by single ' ' or '-' separators. Double
//    separators, other punctuation and letters end it.
//  * A candidate window is a run of consecutive groups of the chain, either
//      - one group of 12-19 digits, or
//      - 3 to 6 groups of 3-6 digits each (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3, 4-3-3-3, ...), all
//        joined by the same separator kind.
//  * A dash joins tokens: a window that touches a '-' must span the whole dash-joined token, so
//    "4111-1111-1111-1111-2024" (20 digits) and UUID pieces are never a PAN, nor is
//    "ORD-4111111111111111". Spaces are word breaks, so "qty 2 4111 1111 1111 1111" matches.
//  * A window must not be glued to a letter or digit, directly or through '-' or '.' (hex ids,
//    decimals like 0.4111111111111111, versions, host names). '_' and other punctuation are
//    boundaries. A fraction of zeros only is no glue: "4111111111111111.00" is an integer.
//  * Digits must pass Luhn and have a brand at that length (card_brand.h). Visa 13 is legal, so
//    a Luhn-valid 13-digit number starting with 4 is masked: recall on a real PAN length wins;
//    13-digit millisecond timestamps start with 1 until the year 2033 and cannot start with 4
//    before 2096, and no brand issues 13 digits starting with 1, 2 or 3.
//  * Among space-joined groups, the leftmost window wins, longest first; scanning resumes after
//    a match, so matches never overlap.
#include "policy/detect/pan.h"

#include <cstring>

#include "policy/detect/card_brand.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tollgate::policy {
namespace {

constexpr size_t kMinDigits = 12;
constexpr size_t kMaxDigits = 19;
constexpr size_t kMinGroup = 3;  // digits per group in a separated number
constexpr size_t kMaxGroup = 6;
constexpr size_t kMinGroups = 3;  // groups in a separated number
constexpr size_t kMaxGroups = 6;
// Groups buffered per chain; longer chains are judged in overlapping slices (see scanChain).
constexpr size_t kChainCap = 64;

inline bool isDigit(unsigned char c) { return static_cast<unsigned char>(c - '0') < 10; }
inline bool isAlpha(unsigned char c) { return static_cast<unsigned char>((c | 0x20) - 'a') < 26; }
inline bool isAlnum(unsigned char c) { return isDigit(c) || isAlpha(c); }
inline bool isJoiner(unsigned char c) { return c == '-' || c == '.'; }

#if defined(__SSE2__)
// Bit i set when p[i] is an ASCII digit. Adding 0x50 maps '0'..'9' to -128..-119 (signed), and
// every other byte to a value >= -118.
inline unsigned digitMask16(const char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i t = _mm_add_epi8(v, _mm_set1_epi8(0x50));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(t, _mm_set1_epi8(-118))));
}
#endif

// Index of the first digit at or after `pos`, or n.
inline size_t nextDigit(const char* t, size_t pos, size_t n) {
#if defined(__SSE2__)
  // Digit-dense data usually has the next digit within a few bytes: look there first.
  if (pos + 16 <= n) {
    const unsigned m = digitMask16(t + pos);
    if (m != 0) return pos + static_cast<size_t>(__builtin_ctz(m));
    pos += 16;
  }
  while (pos + 64 <= n) {
    const unsigned m0 = digitMask16(t + pos);
    const unsigned m1 = digitMask16(t + pos + 16);
    const unsigned m2 = digitMask16(t + pos + 32);
    const unsigned m3 = digitMask16(t + pos + 48);
    if ((m0 | m1 | m2 | m3) != 0) {
      const uint64_t m = static_cast<uint64_t>(m0) | (static_cast<uint64_t>(m1) << 16) |
                         (static_cast<uint64_t>(m2) << 32) | (static_cast<uint64_t>(m3) << 48);
      return pos + static_cast<size_t>(__builtin_ctzll(m));
    }
    pos += 64;
  }
  while (pos + 16 <= n) {
    const unsigned m = digitMask16(t + pos);
    if (m != 0) return pos + static_cast<size_t>(__builtin_ctz(m));
    pos += 16;
  }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  // Word-at-a-time fallback. On each byte's low 7 bits x: x + 0x50 has bit 7 set iff
  // x >= '0', x + 0x46 has it set iff x >= ':' (no carries cross bytes); bytes >= 0x80 are out.
  while (pos + 8 <= n) {
    uint64_t w;
    std::memcpy(&w, t + pos, 8);
    const uint64_t lo7 = w & 0x7f7f7f7f7f7f7f7fULL;
    const uint64_t ge = (lo7 + 0x5050505050505050ULL) & ~w;
    const uint64_t lt = ~(lo7 + 0x4646464646464646ULL);
    const uint64_t m = ge & lt & 0x8080808080808080ULL;
    if (m != 0) return pos + static_cast<size_t>(__builtin_ctzll(m) / 8);
    pos += 8;
  }
#endif
  while (pos < n && !isDigit(static_cast<unsigned char>(t[pos]))) ++pos;
  return pos;
}

// End of the digit run starting at `pos` (t[pos] is a digit).
inline size_t digitRunEnd(const char* t, size_t pos, size_t n) {
#if defined(__SSE2__)
  while (pos + 16 <= n) {
    const unsigned m = ~digitMask16(t + pos) & 0xffffu;
    if (m != 0) return pos + static_cast<size_t>(__builtin_ctz(m));
    pos += 16;
  }
#endif
  while (pos < n && isDigit(static_cast<unsigned char>(t[pos]))) ++pos;
  return pos;
}

struct Group {
  size_t begin;
  size_t end;
  size_t len() const { return end - begin; }
  bool cardShaped() const { return len() >= kMinGroup && len() <= kMaxGroup; }
};

class Scanner {
 public:
  Scanner(std::string_view text, std::vector<PanMatch>* out)
      : t_(text.data()), n_(text.size()), out_(out) {}

  size_t run() {
    size_t pos = 0;
    while (!done_) {
      pos = nextDigit(t_, pos, n_);
      if (pos >= n_) break;
      pos = scanChain(pos);
    }
    return found_;
  }

 private:
  // True when a window starting at `b` is glued to what precedes it.
  bool leftGlued(size_t b) const {
    if (b == 0) return false;
    const auto c = static_cast<unsigned char>(t_[b - 1]);
    if (isAlnum(c)) return true;
    return isJoiner(c) && b >= 2 && isAlnum(static_cast<unsigned char>(t_[b - 2]));
  }
  // True when a window ending at `e` is glued to what follows it.
  bool rightGlued(size_t e) const {
    if (e >= n_) return false;
    const auto c = static_cast<unsigned char>(t_[e]);
    if (isAlnum(c)) return true;
    if (c == '.') {
      // "4111111111111111.00" (a numeric's text, in an array or after ::text) is an integer.
      size_t z = e + 1;
      while (z < n_ && t_[z] == '0') ++z;
      if (z > e + 1 && (z == n_ || !isAlnum(static_cast<unsigned char>(t_[z])))) return false;
    }
    return isJoiner(c) && e + 1 < n_ && isAlnum(static_cast<unsigned char>(t_[e + 1]));
  }
  char sepBefore(size_t g) const { return t_[groups_[g].begin - 1]; }

  // Parses the chain starting at digit `pos`, judges it, returns where scanning continues.
  size_t scanChain(size_t pos) {
    for (;;) {
      size_t count = 0;
      size_t digits = 0;
      bool complete = false;
      size_t p = pos;
      for (;;) {
        const size_t e = digitRunEnd(t_, p, n_);
        groups_[count++] = {p, e};
        digits += e - p;
        if (e + 1 < n_ && (t_[e] == ' ' || t_[e] == '-') &&
            isDigit(static_cast<unsigned char>(t_[e + 1]))) {
          if (count == kChainCap) break;
          p = e + 1;
          continue;
        }
        complete = true;
        break;
      }
      const size_t chain_end = groups_[count - 1].end;
      if (complete) {
        if (digits >= kMinDigits) judge(count, count);
        return chain_end;
      }
      // Slice full: judge windows starting in all but the last kMaxGroups + 1 groups (a window
      // spans at most kMaxGroups groups, so every judged window lies inside the slice), then
      // re-parse from the first group not yet settled. Groups are re-read from the text, so
      // glue and separator checks see the real neighbours.
      const size_t limit = count - (kMaxGroups + 1);
      const size_t resume = judge(count, limit);
      if (done_) return chain_end;
      pos = groups_[resume].begin;
    }
  }

  // Judges windows starting at groups [0, limit) of groups_[0, count). Returns the first group
  // index not covered by a judged window start or an emitted match.
  size_t judge(size_t count, size_t limit) {
    size_t i = 0;
    while (i < limit && !done_) {
      if (i + 1 < count && sepBefore(i + 1) == '-') {
        // A dash-joined run [i, j]: only the whole run can be a number.
        size_t j = i + 1;
        while (j + 1 < count && sepBefore(j + 1) == '-') ++j;
        const size_t n_groups = j - i + 1;
        if (n_groups >= kMinGroups && n_groups <= kMaxGroups && allCardShaped(i, j)) {
          tryWindow(i, j);
        }
        i = j + 1;
        continue;
      }
      const Group& g = groups_[i];
      if (g.len() >= kMinDigits) {
        tryWindow(i, i);
        ++i;
        continue;
      }
      if (g.cardShaped() && !leftGlued(g.begin)) {
        // Space-joined card-shaped groups from i: longest first.
        size_t last = i;
        size_t total = g.len();
        size_t totals[kMaxGroups] = {total};
        while (last + 1 < count && last + 1 - i < kMaxGroups && sepBefore(last + 1) == ' ' &&
               groups_[last + 1].cardShaped()) {
          ++last;
          total += groups_[last].len();
          totals[last - i] = total;
        }
        bool matched = false;
        for (size_t j = last; j >= i + kMinGroups - 1 && j > i; --j) {
          const size_t d = totals[j - i];
          if (d < kMinDigits) break;
          if (d <= kMaxDigits && tryWindow(i, j)) {
            i = j + 1;
            matched = true;
            break;
          }
        }
        if (matched) continue;
      }
      ++i;
    }
    return i < count ? i : count - 1;
  }

  bool allCardShaped(size_t i, size_t j) const {
    for (size_t k = i; k <= j; ++k) {
      if (!groups_[k].cardShaped()) return false;
    }
    return true;
  }

  // Checks groups [i, j] as one card number; emits it and returns true on success.
  bool tryWindow(size_t i, size_t j) {
    const size_t b = groups_[i].begin;
    const size_t e = groups_[j].end;
    if (!detect::plausibleLeadDigit(t_[b])) return false;
    char buf[kMaxDigits];
    const char* digits;
    size_t n = 0;
    if (i == j) {
      n = e - b;
      if (n < kMinDigits || n > kMaxDigits) return false;
      digits = t_ + b;
    } else {
      for (size_t k = i; k <= j; ++k) {
        const size_t len = groups_[k].len();
        if (n + len > kMaxDigits) return false;
        std::memcpy(buf + n, t_ + groups_[k].begin, len);
        n += len;
      }
      if (n < kMinDigits) return false;
      digits = buf;
    }
    uint32_t prefix6 = 0;
    for (int k = 0; k < 6; ++k) prefix6 = prefix6 * 10 + static_cast<uint32_t>(digits[k] - '0');
    const CardBrand brand = detect::brandForPrefix(prefix6, n);
    if (brand == CardBrand::kUnknown) return false;
    if (leftGlued(b) || rightGlued(e)) return false;
    if (!detect::luhnDigits(digits, n)) return false;
    ++found_;
    if (out_ == nullptr) {
      done_ = true;
    } else {
      out_->push_back(PanMatch{b, e, static_cast<uint8_t>(n), brand});
    }
    return true;
  }

  const char* t_;
  size_t n_;
  std::vector<PanMatch>* out_;  // null: stop at the first match
  size_t found_ = 0;
  bool done_ = false;
  Group groups_[kChainCap];
};

}  // namespace

size_t findPans(std::string_view text, std::vector<PanMatch>& out) {
  return Scanner(text, &out).run();
}

bool containsPan(std::string_view text) { return Scanner(text, nullptr).run() > 0; }

}  // namespace tollgate::policy
