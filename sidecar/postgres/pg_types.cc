// Binary-to-text conversion for the numeric types a card number can hide in.
#include "sidecar/postgres/pg_types.h"

#include <charconv>
#include <cstdio>
#include <cstring>
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
      return ValueShape::kBigNumber;
    case oid::kInt2:
    case oid::kInt4:
    case oid::kOid:
    case oid::kFloat4:
    case oid::kFloat8:
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

}  // namespace

std::optional<std::string> textToBinary(uint32_t type_oid, std::string_view text) {
  if (type_oid == oid::kNumeric) return numericTextToBinary(text);
  if (type_oid != oid::kInt8) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  char b[8];
  storeU32(b, static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
  storeU32(b + 4, static_cast<uint32_t>(static_cast<uint64_t>(v)));
  return std::string(b, 8);
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
    case oid::kInt8: {
      if (b.size() != 8) return std::nullopt;
      uint64_t v = (static_cast<uint64_t>(loadU32(b.data())) << 32) | loadU32(b.data() + 4);
      return std::to_string(static_cast<int64_t>(v));
    }
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
      uint64_t bits = (static_cast<uint64_t>(loadU32(b.data())) << 32) | loadU32(b.data() + 4);
      double d;
      std::memcpy(&d, &bits, 8);
      std::snprintf(buf, sizeof(buf), "%.17g", d);
      return std::string(buf);
    }
    case oid::kNumeric:
      return numericBinaryToText(b);
    default:
      return std::nullopt;
  }
}

}  // namespace tollgate::sidecar::postgres
