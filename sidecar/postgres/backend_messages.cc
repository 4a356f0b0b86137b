// Parsers for server-to-client messages.
#include "sidecar/postgres/backend_messages.h"

#include <string>

#include "absl/status/status.h"

namespace tollgate::sidecar::postgres {

namespace {

absl::Status malformed(char type) {
  return absl::InvalidArgumentError("malformed " + std::string(backendTypeName(type)) + " message");
}

absl::StatusOr<BackendBody> done(char type, const WireReader& r, BackendBody body) {
  if (!r.ok() || !r.atEnd()) return malformed(type);
  return body;
}

// Reads NUL-terminated names up to and including an empty one, which must end the payload.
void readNameList(WireReader& r) {
  while (r.ok()) {
    std::string_view s = r.readCString();
    if (r.ok() && s.empty()) return;
  }
}

absl::StatusOr<BackendBody> parseAuthentication(std::string_view payload) {
  WireReader r(payload);
  Authentication m;
  int32_t code = r.readI32();
  m.code = static_cast<AuthCode>(code);
  switch (m.code) {
    case AuthCode::kOk:
    case AuthCode::kKerberosV5:
    case AuthCode::kCleartextPassword:
    case AuthCode::kGss:
    case AuthCode::kSspi:
      break;
    case AuthCode::kMd5Password:
      m.salt = r.readBytes(4);
      break;
    case AuthCode::kSasl: {
      std::string_view list = r.rest();
      readNameList(r);
      m.mechanisms = NameList(list);
      break;
    }
    case AuthCode::kGssContinue:
    case AuthCode::kSaslContinue:
    case AuthCode::kSaslFinal:
      m.data = r.readBytes(r.remaining());
      break;
    default:
      return absl::InvalidArgumentError("unsupported authentication request " +
                                        std::to_string(code));
  }
  return done('R', r, m);
}

absl::StatusOr<BackendBody> parseRowDescription(std::string_view payload) {
  WireReader r(payload);
  RowDescription m;
  m.count = r.readU16();
  m.fields_raw = r.rest();
  for (uint16_t i = 0; i < m.count && r.ok(); ++i) RowDescription::readField(r);
  return done('T', r, m);
}

absl::StatusOr<NoticeFields> parseNoticeFields(char type, std::string_view payload) {
  WireReader r(payload);
  while (r.ok()) {
    uint8_t code = r.readU8();
    if (code == 0) break;
    r.readCString();
  }
  if (!r.ok() || !r.atEnd()) return malformed(type);
  return NoticeFields{payload.substr(0, payload.size() - 1)};
}

}  // namespace

bool NameList::contains(std::string_view name) const {
  bool found = false;
  forEach([&](std::string_view s) { found = found || s == name; });
  return found;
}

FieldDescription RowDescription::readField(WireReader& r) {
  FieldDescription f;
  f.name = r.readCString();
  f.table_oid = r.readU32();
  f.column_attnum = r.readI16();
  f.type_oid = r.readU32();
  f.type_size = r.readI16();
  f.type_modifier = r.readI32();
  f.format = r.readI16();
  return f;
}

std::optional<std::string_view> NoticeFields::get(char code) const {
  std::optional<std::string_view> found;
  forEach([&](char c, std::string_view v) {
    if (!found && c == code) found = v;
  });
  return found;
}

absl::StatusOr<BackendBody> parseBackendBody(char type, std::string_view payload) {
  WireReader r(payload);
  switch (type) {
    case 'R':
      return parseAuthentication(payload);
    case 'S': {
      ParameterStatus m;
      m.name = r.readCString();
      m.value = r.readCString();
      return done(type, r, m);
    }
    case 'K': {
      BackendKeyData m;
      m.process_id = r.readI32();
      m.secret_key = r.rest();
      if (!r.ok() || m.secret_key.size() < 4 || m.secret_key.size() > 256) {
        return malformed(type);
      }
      return m;
    }
    case 'Z': {
      ReadyForQuery m{static_cast<char>(r.readU8())};
      if (m.status != 'I' && m.status != 'T' && m.status != 'E') r.fail();
      return done(type, r, m);
    }
    case 'T':
      return parseRowDescription(payload);
    case 'D': {
      uint16_t n = r.readU16();
      DataRow m{ValueList::read(r, n)};
      return done(type, r, m);
    }
    case 'C':
      return done(type, r, CommandComplete{r.readCString()});
    case 'I':
      return done(type, r, EmptyQueryResponse{});
    case 'E':
    case 'N': {
      absl::StatusOr<NoticeFields> f = parseNoticeFields(type, payload);
      if (!f.ok()) return f.status();
      if (type == 'E') return ErrorResponse{*f};
      return NoticeResponse{*f};
    }
    case 'A': {
      NotificationResponse m;
      m.process_id = r.readI32();
      m.channel = r.readCString();
      m.payload = r.readCString();
      return done(type, r, m);
    }
    case '1':
      return done(type, r, ParseComplete{});
    case '2':
      return done(type, r, BindComplete{});
    case '3':
      return done(type, r, CloseComplete{});
    case 'n':
      return done(type, r, NoData{});
    case 's':
      return done(type, r, PortalSuspended{});
    case 't':
      return done(type, r, ParameterDescription{readOidArray(r)});
    case 'G':
    case 'H':
    case 'W': {
      CopyResponse m;
      m.kind = type;
      m.format = static_cast<int8_t>(r.readU8());
      m.column_formats = readInt16Array(r);
      return done(type, r, m);
    }
    case 'd':
      return CopyData{payload};
    case 'c':
      return done(type, r, CopyDone{});
    case 'v': {
      NegotiateProtocolVersion m;
      m.newest_minor = r.readI32();
      m.option_count = r.readU32();
      m.options_raw = r.rest();
      for (uint32_t i = 0; i < m.option_count && r.ok(); ++i) r.readCString();
      return done(type, r, m);
    }
    case 'V': {
      FunctionCallResponse m;
      int32_t len = r.readI32();
      if (len < -1) r.fail();
      if (len >= 0) m.value = r.readBytes(static_cast<size_t>(len));
      return done(type, r, m);
    }
    default:
      break;
  }
  return absl::InvalidArgumentError("invalid backend message type " +
                                    std::to_string(static_cast<unsigned char>(type)));
}

std::string_view backendTypeName(char type) {
  switch (type) {
    case 'R':
      return "Authentication";
    case 'S':
      return "ParameterStatus";
    case 'K':
      return "BackendKeyData";
    case 'Z':
      return "ReadyForQuery";
    case 'T':
      return "RowDescription";
    case 'D':
      return "DataRow";
    case 'C':
      return "CommandComplete";
    case 'I':
      return "EmptyQueryResponse";
    case 'E':
      return "ErrorResponse";
    case 'N':
      return "NoticeResponse";
    case 'A':
      return "NotificationResponse";
    case '1':
      return "ParseComplete";
    case '2':
      return "BindComplete";
    case '3':
      return "CloseComplete";
    case 'n':
      return "NoData";
    case 's':
      return "PortalSuspended";
    case 't':
      return "ParameterDescription";
    case 'G':
      return "CopyInResponse";
    case 'H':
      return "CopyOutResponse";
    case 'W':
      return "CopyBothResponse";
    case 'd':
      return "CopyData";
    case 'c':
      return "CopyDone";
    case 'v':
      return "NegotiateProtocolVersion";
    case 'V':
      return "FunctionCallResponse";
    default:
      return "unknown";
  }
}

}  // namespace tollgate::sidecar::postgres
