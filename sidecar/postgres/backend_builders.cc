// Server message builders.
#include "sidecar/postgres/backend_builders.h"

#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

namespace {

std::string authentication(AuthCode code, std::string_view extra = {}) {
  std::string out;
  MessageWriter w(&out, 'R');
  w.i32(static_cast<int32_t>(code)).bytes(extra);
  w.finish();
  return out;
}

}  // namespace

std::string buildAuthenticationOk() { return authentication(AuthCode::kOk); }

std::string buildAuthenticationCleartextPassword() {
  return authentication(AuthCode::kCleartextPassword);
}

std::string buildAuthenticationMd5Password(std::string_view salt) {
  return authentication(AuthCode::kMd5Password, salt.substr(0, 4));
}

std::string buildAuthenticationSasl(std::span<const std::string_view> mechanisms) {
  std::string out;
  MessageWriter w(&out, 'R');
  w.i32(static_cast<int32_t>(AuthCode::kSasl));
  for (std::string_view m : mechanisms) {
    if (!m.empty()) w.cstring(m);
  }
  w.u8(0);
  w.finish();
  return out;
}

std::string buildAuthenticationSaslContinue(std::string_view data) {
  return authentication(AuthCode::kSaslContinue, data);
}

std::string buildAuthenticationSaslFinal(std::string_view data) {
  return authentication(AuthCode::kSaslFinal, data);
}

std::string buildParameterStatus(std::string_view name, std::string_view value) {
  std::string out;
  MessageWriter w(&out, 'S');
  w.cstring(name).cstring(value);
  w.finish();
  return out;
}

std::string buildNegotiateProtocolVersion(uint16_t newest_minor,
                                          std::span<const std::string> unrecognised) {
  std::string out;
  MessageWriter w(&out, 'v');
  w.u32((3u << 16) | newest_minor).i32(static_cast<int32_t>(unrecognised.size()));
  for (const std::string& name : unrecognised) w.cstring(name);
  w.finish();
  return out;
}

std::string buildBackendKeyData(int32_t process_id, std::string_view secret_key) {
  std::string out;
  MessageWriter w(&out, 'K');
  w.i32(process_id).bytes(secret_key);
  w.finish();
  return out;
}

std::string buildReadyForQuery(char status) {
  std::string out;
  MessageWriter w(&out, 'Z');
  w.u8(static_cast<uint8_t>(status));
  w.finish();
  return out;
}

std::string buildCommandComplete(std::string_view tag) {
  std::string out;
  MessageWriter w(&out, 'C');
  w.cstring(tag);
  w.finish();
  return out;
}

std::string buildCopyData(std::string_view data) {
  std::string out;
  MessageWriter w(&out, 'd');
  w.bytes(data);
  w.finish();
  return out;
}

std::string buildEmptyQueryResponse() {
  std::string out;
  MessageWriter w(&out, 'I');
  w.finish();
  return out;
}

std::string buildRowDescription(std::span<const FieldDescription> fields) {
  std::string out;
  MessageWriter w(&out, 'T');
  w.u16(static_cast<uint16_t>(fields.size()));
  for (const FieldDescription& f : fields) {
    w.cstring(f.name).u32(f.table_oid).i16(f.column_attnum).u32(f.type_oid);
    w.i16(f.type_size).i32(f.type_modifier).i16(f.format);
  }
  w.finish();
  return out;
}

std::string buildDataRow(std::span<const std::optional<std::string_view>> values) {
  std::string out;
  MessageWriter w(&out, 'D');
  w.u16(static_cast<uint16_t>(values.size()));
  for (const std::optional<std::string_view>& v : values) {
    if (!v) {
      w.i32(-1);
    } else {
      w.i32(static_cast<int32_t>(v->size())).bytes(*v);
    }
  }
  w.finish();
  return out;
}

}  // namespace tollgate::sidecar::postgres
