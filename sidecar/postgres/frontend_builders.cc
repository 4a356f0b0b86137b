// Client message builders.
#include "sidecar/postgres/frontend_builders.h"

#include "sidecar/postgres/frontend_messages.h"
#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

namespace {

std::string startupCode(uint32_t code) {
  std::string out;
  MessageWriter w(&out, 0);
  w.u32(code);
  w.finish();
  return out;
}

std::string empty(char type) {
  std::string out;
  MessageWriter w(&out, type);
  w.finish();
  return out;
}

}  // namespace

std::string buildStartupMessage(std::span<const StartupParameter> parameters,
                                uint16_t minor_version) {
  std::string out;
  MessageWriter w(&out, 0);
  w.u32(kProtocolV3 | minor_version);
  for (const auto& [name, value] : parameters) {
    if (!name.empty()) w.cstring(name).cstring(value);
  }
  w.u8(0);
  w.finish();
  return out;
}

std::string buildSslRequest() { return startupCode(kSslRequestCode); }

std::string buildGssEncRequest() { return startupCode(kGssEncRequestCode); }

std::string buildCancelRequest(int32_t process_id, std::string_view secret_key) {
  std::string out;
  MessageWriter w(&out, 0);
  w.u32(kCancelRequestCode).i32(process_id).bytes(secret_key);
  w.finish();
  return out;
}

std::string buildQuery(std::string_view sql) {
  std::string out;
  MessageWriter w(&out, 'Q');
  w.cstring(sql);
  w.finish();
  return out;
}

std::string buildParse(std::string_view name, std::string_view query) {
  std::string out;
  MessageWriter w(&out, 'P');
  w.cstring(name).cstring(query).i16(0);
  w.finish();
  return out;
}

std::string buildDescribePortal(std::string_view portal) {
  std::string out;
  MessageWriter w(&out, 'D');
  w.u8('P').cstring(portal);
  w.finish();
  return out;
}

std::string buildPasswordMessage(std::string_view password) {
  std::string out;
  MessageWriter w(&out, 'p');
  w.cstring(password);
  w.finish();
  return out;
}

std::string buildSaslInitialResponse(std::string_view mechanism, std::string_view data) {
  std::string out;
  MessageWriter w(&out, 'p');
  w.cstring(mechanism).i32(static_cast<int32_t>(data.size())).bytes(data);
  w.finish();
  return out;
}

std::string buildSaslResponse(std::string_view data) {
  std::string out;
  MessageWriter w(&out, 'p');
  w.bytes(data);
  w.finish();
  return out;
}

std::string buildSync() { return empty('S'); }

std::string buildTerminate() { return empty('X'); }

}  // namespace tollgate::sidecar::postgres
