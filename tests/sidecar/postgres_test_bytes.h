// Hand-built PostgreSQL wire bytes for the sidecar/postgres tests, independent of the codec.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate::sidecar::postgres::testing {

inline std::string be16(uint16_t v) {
  return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

inline std::string be32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
                     static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

// A String field: the text and its NUL terminator.
inline std::string cstr(std::string_view s) { return std::string(s) + std::string(1, '\0'); }

// A typed message: type byte, Int32 length (payload + 4), payload.
inline std::string msg(char type, const std::string& payload) {
  return std::string(1, type) + be32(static_cast<uint32_t>(payload.size() + 4)) + payload;
}

// An untyped startup-phase packet: Int32 length (body + 4), body.
inline std::string packet(const std::string& body) {
  return be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

// A (length, bytes) value; use nullValue() for NULL.
inline std::string value(std::string_view v) {
  return be32(static_cast<uint32_t>(v.size())) + std::string(v);
}
inline std::string nullValue() { return be32(0xffffffffu); }

}  // namespace tollgate::sidecar::postgres::testing
