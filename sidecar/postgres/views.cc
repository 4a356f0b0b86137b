// Layout validation for the in-place array views.
#include "sidecar/postgres/views.h"

namespace tollgate::sidecar::postgres {

ValueList ValueList::read(WireReader& r, uint16_t count) {
  std::string_view rest = r.rest();
  size_t start = r.remaining();
  for (uint16_t i = 0; i < count && r.ok(); ++i) {
    int32_t len = r.readI32();
    if (len < -1) r.fail();
    if (len > 0) r.readBytes(static_cast<size_t>(len));
  }
  if (!r.ok()) return {};
  return ValueList(count, rest.substr(0, start - r.remaining()));
}

Int16Array readInt16Array(WireReader& r) {
  uint16_t n = r.readU16();
  std::string_view raw = r.readBytes(2 * static_cast<size_t>(n));
  if (!r.ok()) return {};
  return Int16Array(n, raw);
}

OidArray readOidArray(WireReader& r) {
  uint16_t n = r.readU16();
  std::string_view raw = r.readBytes(4 * static_cast<size_t>(n));
  if (!r.ok()) return {};
  return OidArray(n, raw);
}

}  // namespace tollgate::sidecar::postgres
