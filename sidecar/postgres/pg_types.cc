// Binary-to-text conversion for the numeric types a card number can hide in.
#include "sidecar/postgres/pg_types.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

ValueShape shapeOf(uint32_t type_oid) {
  switch (type_oid) {
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kUnknown:
    case oid::kJson:
    case oid::kXml:
    case oid::kChar:
      return ValueShape::kText;
    case oid::kJsonb:
      return ValueShape::kJsonb;
    case oid::kInt8:
    case oid::kNumeric:
    case oid::kFloat8:  // exact for integers up to 2^53: most 16-digit card numbers
    case oid::kMoney:   // int8 cents
      return ValueShape::kBigNumber;
    case oid::kInt2:
    case oid::kInt4:
    case oid::kOid:
    // float4 has a 24-bit significand: integers above 2^24 (8 digits) are rounded, so a
    // 12-19 digit card number cannot survive in one; its rounded value is not the number.
    case oid::kFloat4:
    case oid::kBool:
      return ValueShape::kSmallNumber;
    default:
      return ValueShape::kOther;
  }
}

std::optional<std::string> numericBinaryToText(std::string_view b) {
  if (b.size() < 8) return std::nullopt;
  int ndigits = static_cast<int16_t>(loadU16(b.data()));
  int weight = static_cast<int16_t>(loadU16(b.data() + 2));
  uint16_t sign = loadU16(b.data() + 4);
  int dscale = static_cast<int16_t>(loadU16(b.data() + 6));
  if (ndigits < 0 || dscale < 0 || b.size() != 8 + 2 * static_cast<size_t>(ndigits)) {
    return std::nullopt;
  }
  if (sign == 0xC000) return "NaN";
  if (sign == 0xD000) return "Infinity";
  if (sign == 0xF000) return "-Infinity";
  if (sign != 0x0000 && sign != 0x4000) return std::nullopt;
  auto digit = [&](int i) -> int {
    if (i < 0 || i >= ndigits) return 0;
    return static_cast<int16_t>(loadU16(b.data() + 8 + 2 * i));
  };
  for (int i = 0; i < ndigits; ++i) {
    if (digit(i) < 0 || digit(i) > 9999) return std::nullopt;
  }
  std::string out;
  if (sign == 0x4000) out.push_back('-');
  if (weight < 0) {
    out.push_back('0');
  } else {
    for (int i = 0; i <= weight; ++i) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), i == 0 ? "%d" : "%04d", digit(i));
      out += buf;
    }
  }
  if (dscale > 0) {
    out.push_back('.');
    std::string frac;
    for (int i = weight + 1; static_cast<int>(frac.size()) < dscale; ++i) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "%04d", digit(i));
      frac += buf;
    }
    frac.resize(static_cast<size_t>(dscale));
    out += frac;
  }
  return out;
}

namespace {

std::optional<std::string> numericTextToBinary(std::string_view text) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  size_t dot = text.find('.');
  std::string_view int_part = text.substr(0, dot);
  std::string_view frac_part = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (int_part.empty() && frac_part.empty()) return std::nullopt;
  for (std::string_view part : {int_part, frac_part}) {
    for (char c : part) {
      if (c < '0' || c > '9') return std::nullopt;
    }
  }
  while (int_part.size() > 1 && int_part[0] == '0') int_part.remove_prefix(1);
  // Base-10000 groups aligned on the decimal point.
  std::string ip(int_part);
  ip.insert(0, (4 - ip.size() % 4) % 4, '0');
  std::string fp(frac_part);
  fp.append((4 - fp.size() % 4) % 4, '0');
  std::vector<int> groups;
  for (size_t i = 0; i < ip.size(); i += 4) groups.push_back(std::stoi(ip.substr(i, 4)));
  int weight = static_cast<int>(groups.size()) - 1;
  for (size_t i = 0; i < fp.size(); i += 4) groups.push_back(std::stoi(fp.substr(i, 4)));
  // Canonical form: no leading or trailing zero groups.
  size_t first = 0;
  while (first < groups.size() && groups[first] == 0) {
    ++first;
    --weight;
  }
  size_t last = groups.size();
  while (last > first && groups[last - 1] == 0) --last;
  std::string out;
  auto put16 = [&](int v) {
    char b[2];
    storeU16(b, static_cast<uint16_t>(v));
    out.append(b, 2);
  };
  int ndigits = static_cast<int>(last - first);
  put16(ndigits);
  put16(ndigits == 0 ? 0 : weight);
  put16(negative && ndigits > 0 ? 0x4000 : 0);
  put16(static_cast<int>(frac_part.size()));
  for (size_t i = first; i < last; ++i) put16(groups[i]);
  return out;
}

std::string int8Binary(int64_t v) {
  char b[8];
  storeU32(b, static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
  storeU32(b + 4, static_cast<uint32_t>(static_cast<uint64_t>(v)));
  return std::string(b, 8);
}

uint64_t loadU64(const char* p) {
  return (static_cast<uint64_t>(loadU32(p)) << 32) | loadU32(p + 4);
}

// "[-]units[.c[c]]" (binaryToText's money form) to int8 cents.
std::optional<std::string> moneyTextToBinary(std::string_view text) {
  const bool negative = text.starts_with('-');
  if (negative) text.remove_prefix(1);
  const size_t dot = text.find('.');
  const std::string_view units = text.substr(0, dot);
  std::string frac(dot == std::string_view::npos ? "" : text.substr(dot + 1));
  if (units.empty() || frac.size() > 2 || (dot != std::string_view::npos && frac.empty())) {
    return std::nullopt;
  }
  frac.resize(2, '0');
  const std::string all = std::string(units) + frac;
  uint64_t cents = 0;
  auto [p, ec] = std::from_chars(all.data(), all.data() + all.size(), cents);
  if (ec != std::errc() || p != all.data() + all.size()) return std::nullopt;
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + negative;
  if (cents > limit) return std::nullopt;
  return int8Binary(static_cast<int64_t>(negative ? 0 - cents : cents));
}

std::string moneyText(int64_t cents) {
  const uint64_t mag = cents < 0 ? 0 - static_cast<uint64_t>(cents) : static_cast<uint64_t>(cents);
  std::string frac = std::to_string(mag % 100);
  if (frac.size() < 2) frac.insert(0, "0");
  return (cents < 0 ? "-" : "") + std::to_string(mag / 100) + "." + frac;
}

// PostgreSQL's spelling of a float8: shortest exact digits, NaN and Infinity by name.
std::string float8Text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string(buf, ec == std::errc() ? p : buf);
}

}  // namespace

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> textToBinary(uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case oid::kNumeric:
      return numericTextToBinary(text);
    case oid::kInt8: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
      return int8Binary(v);
    }
    case oid::kFloat8: {
      // from_chars does not take a leading '+', which PostgreSQL accepts.
      std::string_view t = text.starts_with('+') ? text.substr(1) : text;
      double d = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
      if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return std::nullopt;
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      return int8Binary(static_cast<int64_t>(bits));
    }
    case oid::kMoney:
      return moneyTextToBinary(text);
    default:
      return std::nullopt;
  }
}

std::optional<std::string> binaryToText(uint32_t type_oid, std::string_view b) {
  char buf[64];
  switch (type_oid) {
    case oid::kInt2:
      if (b.size() != 2) return std::nullopt;
      return std::to_string(static_cast<int16_t>(loadU16(b.data())));
    case oid::kInt4:
      if (b.size() != 4) return std::nullopt;
      return std::to_string(static_cast<int32_t>(loadU32(b.data())));
    case oid::kOid:
      if (b.size() != 4) return std::nullopt;
      return std::to_string(loadU32(b.data()));
    case oid::kInt8:
      if (b.size() != 8) return std::nullopt;
      return std::to_string(static_cast<int64_t>(loadU64(b.data())));
    case oid::kMoney:
      if (b.size() != 8) return std::nullopt;
      return moneyText(static_cast<int64_t>(loadU64(b.data())));
    case oid::kFloat4: {
      if (b.size() != 4) return std::nullopt;
      uint32_t bits = loadU32(b.data());
      float f;
      std::memcpy(&f, &bits, 4);
      std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(f));
      return std::string(buf);
    }
    case oid::kFloat8: {
      if (b.size() != 8) return std::nullopt;
      const uint64_t bits = loadU64(b.data());
      double d;
      std::memcpy(&d, &bits, 8);
      return float8Text(d);
    }
    case oid::kNumeric:
      return numericBinaryToText(b);
    default:
      return std::nullopt;
  }
}

}  // namespace tollgate::sidecar::postgres
