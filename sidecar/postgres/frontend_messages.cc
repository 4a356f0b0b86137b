// Parsers for client-to-server messages, matching the checks the PostgreSQL server makes.
#include "sidecar/postgres/frontend_messages.h"

#include <string>

#include "absl/status/status.h"

namespace tollgate::sidecar::postgres {

namespace {

absl::Status malformed(char type) {
  return absl::InvalidArgumentError("malformed " + std::string(frontendTypeName(type)) +
                                    " message");
}

// Finishes a parse: the reader must have succeeded and used every byte.
absl::StatusOr<FrontendBody> done(char type, const WireReader& r, FrontendBody body) {
  if (!r.ok() || !r.atEnd()) return malformed(type);
  return body;
}

bool validKind(char kind) { return kind == 'S' || kind == 'P'; }

absl::StatusOr<FrontendBody> parseAuthResponse(std::string_view payload, AuthResponseKind kind) {
  WireReader r(payload);
  switch (kind) {
    case AuthResponseKind::kPassword: {
      PasswordMessage m{r.readCString()};
      return done('p', r, m);
    }
    case AuthResponseKind::kSaslInitial: {
      SaslInitialResponse m;
      m.mechanism = r.readCString();
      int32_t len = r.readI32();
      if (len < -1) r.fail();
      if (len >= 0) m.data = r.readBytes(static_cast<size_t>(len));
      return done('p', r, m);
    }
    case AuthResponseKind::kSasl:
      return SaslResponse{payload};
    case AuthResponseKind::kUnknown:
      break;
  }
  return AuthResponse{payload};
}

}  // namespace

std::optional<std::string_view> StartupMessage::parameter(std::string_view name) const {
  std::optional<std::string_view> found;
  forEachParameter([&](std::string_view n, std::string_view v) {
    if (!found && n == name) found = v;
  });
  return found;
}

absl::StatusOr<FrontendBody> parseStartupPacket(std::string_view raw) {
  WireReader r(raw);
  uint32_t len = r.readU32();
  uint32_t code = r.readU32();
  if (!r.ok() || len != raw.size()) return absl::InvalidArgumentError("invalid startup packet");
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (!r.atEnd()) return absl::InvalidArgumentError("invalid encryption request packet");
      if (code == kSslRequestCode) return SslRequest{};
      return GssEncRequest{};
    case kCancelRequestCode: {
      CancelRequest c;
      c.process_id = r.readI32();
      c.secret_key = r.rest();
      if (!r.ok() || c.secret_key.empty() || c.secret_key.size() > 256) {
        return absl::InvalidArgumentError("invalid cancel request packet");
      }
      return c;
    }
    default:
      break;
  }
  StartupMessage m;
  m.major_version = static_cast<uint16_t>(code >> 16);
  m.minor_version = static_cast<uint16_t>(code & 0xffff);
  if (m.major_version != 3) {
    return absl::InvalidArgumentError("unsupported frontend protocol " +
                                      std::to_string(m.major_version) + "." +
                                      std::to_string(m.minor_version));
  }
  std::string_view params = r.rest();
  // name\0value\0 ... \0 : an empty name ends the list and must be the last byte.
  while (r.ok()) {
    std::string_view name = r.readCString();
    if (!r.ok()) break;
    if (name.empty()) {
      if (!r.atEnd()) r.fail();
      break;
    }
    r.readCString();
  }
  if (!r.ok()) {
    return absl::InvalidArgumentError(
        "invalid startup packet layout: expected terminator as last byte");
  }
  m.parameters_raw = params.substr(0, params.size() - 1);
  return m;
}

absl::StatusOr<FrontendBody> parseFrontendBody(char type, std::string_view payload,
                                               AuthResponseKind auth_kind) {
  WireReader r(payload);
  switch (type) {
    case 'Q':
      return done(type, r, Query{r.readCString()});
    case 'P': {
      Parse m;
      m.statement = r.readCString();
      m.query = r.readCString();
      m.param_types = readOidArray(r);
      return done(type, r, m);
    }
    case 'B': {
      Bind m;
      m.portal = r.readCString();
      m.statement = r.readCString();
      m.param_formats = readInt16Array(r);
      uint16_t n = r.readU16();
      m.params = ValueList::read(r, n);
      m.result_formats = readInt16Array(r);
      if (r.ok() && m.param_formats.size() > 1 && m.param_formats.size() != n) r.fail();
      return done(type, r, m);
    }
    case 'D':
    case 'C': {
      char kind = static_cast<char>(r.readU8());
      std::string_view name = r.readCString();
      if (!validKind(kind)) r.fail();
      if (type == 'D') return done(type, r, Describe{kind, name});
      return done(type, r, Close{kind, name});
    }
    case 'E': {
      Execute m;
      m.portal = r.readCString();
      m.max_rows = r.readI32();
      return done(type, r, m);
    }
    case 'S':
      return done(type, r, Sync{});
    case 'H':
      return done(type, r, Flush{});
    case 'X':
      return done(type, r, Terminate{});
    case 'd':
      return CopyData{payload};
    case 'c':
      return done(type, r, CopyDone{});
    case 'f':
      return done(type, r, CopyFail{r.readCString()});
    case 'F': {
      FunctionCall m;
      m.function_oid = r.readU32();
      m.arg_formats = readInt16Array(r);
      uint16_t n = r.readU16();
      m.args = ValueList::read(r, n);
      m.result_format = r.readI16();
      if (r.ok() && m.arg_formats.size() > 1 && m.arg_formats.size() != n) r.fail();
      return done(type, r, m);
    }
    case 'p':
      return parseAuthResponse(payload, auth_kind);
    default:
      break;
  }
  return absl::InvalidArgumentError("invalid frontend message type " +
                                    std::to_string(static_cast<unsigned char>(type)));
}

bool isFrontendMessageType(char type) { return type != 0 && frontendTypeName(type) != "unknown"; }

std::string_view frontendTypeName(char type) {
  switch (type) {
    case 'Q':
      return "Query";
    case 'P':
      return "Parse";
    case 'B':
      return "Bind";
    case 'D':
      return "Describe";
    case 'E':
      return "Execute";
    case 'S':
      return "Sync";
    case 'H':
      return "Flush";
    case 'X':
      return "Terminate";
    case 'C':
      return "Close";
    case 'd':
      return "CopyData";
    case 'c':
      return "CopyDone";
    case 'f':
      return "CopyFail";
    case 'F':
      return "FunctionCall";
    case 'p':
      return "PasswordMessage";
    case 0:
      return "startup packet";
    default:
      return "unknown";
  }
}

}  // namespace tollgate::sidecar::postgres
