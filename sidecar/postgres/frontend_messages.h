// Client-to-server PostgreSQL v3 messages: typed zero-copy views and their parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "sidecar/postgres/views.h"

namespace tollgate::sidecar::postgres {

// Every string_view in these structs points into the message bytes handed to the parser (the
// caller's buffer): a parsed message is valid only until the caller consumes those bytes.

// ---- Startup phase (untyped packets: Int32 length, Int32 code, body) ----

inline constexpr uint32_t kProtocolV3 = 3u << 16;
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr uint32_t kCancelRequestCode = 80877102;
// PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
inline constexpr uint32_t kMaxStartupPacket = 10000;

struct StartupMessage {
  uint16_t major_version = 3;
  uint16_t minor_version = 0;
  // name\0value\0 pairs, without the final terminating NUL.
  std::string_view parameters_raw;

  // Value of the named parameter (e.g. "user", "database", "application_name"), if present.
  std::optional<std::string_view> parameter(std::string_view name) const;
  // Calls fn(name, value) for each parameter in wire order.
  template <typename Fn>
  void forEachParameter(Fn&& fn) const {
    WireReader r(parameters_raw);
    while (r.ok() && !r.atEnd()) {
      std::string_view name = r.readCString();
      std::string_view value = r.readCString();
      if (r.ok()) fn(name, value);
    }
  }
};
struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  int32_t process_id = 0;
  std::string_view secret_key;  // 4 bytes in protocol 3.0, up to 256 in 3.2
};

// ---- Typed messages ----

// 'Q'
struct Query {
  std::string_view sql;
};
// 'P'
struct Parse {
  std::string_view statement;  // "" is the unnamed statement
  std::string_view query;
  OidArray param_types;  // 0 means "infer"
};
// 'B'
struct Bind {
  std::string_view portal;
  std::string_view statement;
  Int16Array param_formats;  // 0, 1 (applies to all) or one per parameter; 0 text, 1 binary
  ValueList params;
  Int16Array result_formats;
};
// 'D'
struct Describe {
  char kind = 'S';  // 'S' statement or 'P' portal
  std::string_view name;
};
// 'E'
struct Execute {
  std::string_view portal;
  int32_t max_rows = 0;  // 0 = no limit
};
struct Sync {};       // 'S'
struct Flush {};      // 'H'
struct Terminate {};  // 'X'
// 'C'
struct Close {
  char kind = 'S';
  std::string_view name;
};
struct CopyData {  // 'd' (both directions)
  std::string_view data;
};
struct CopyDone {};  // 'c' (both directions)
// 'f'
struct CopyFail {
  std::string_view message;
};
// 'F'
struct FunctionCall {
  uint32_t function_oid = 0;
  Int16Array arg_formats;
  ValueList args;
  int16_t result_format = 0;
};
// 'p' means one of three things depending on the authentication exchange in progress; the
// decoder is told which (see FrontendDecoder::expectAuthResponse).
struct PasswordMessage {
  std::string_view password;  // cleartext or "md5..." hash
};
struct SaslInitialResponse {
  std::string_view mechanism;
  std::optional<std::string_view> data;  // absent when the length is -1
};
struct SaslResponse {
  std::string_view data;
};
// A 'p' message received when no authentication exchange was announced.
struct AuthResponse {
  std::string_view payload;
};

// A message its owner chose not to hold (FrontendDecoderCallbacks::onLargeClientMessage answered
// kDrop): its bytes were dropped unread as they arrived, and only its length and first bytes
// are reported (a Parse's statement name is there). FrontendMessage::raw is empty.
inline constexpr size_t kDroppedHeadBytes = 1024;
struct DroppedMessage {
  uint32_t length = 0;    // the length field (counts itself)
  std::string_view head;  // the first min(kDroppedHeadBytes, length - 4) bytes of the body
};

using FrontendBody = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest, Query,
                                  Parse, Bind, Describe, Execute, Sync, Flush, Terminate, Close,
                                  CopyData, CopyDone, CopyFail, FunctionCall, PasswordMessage,
                                  SaslInitialResponse, SaslResponse, AuthResponse, DroppedMessage>;

// What a 'p' message answers.
enum class AuthResponseKind { kUnknown, kPassword, kSaslInitial, kSasl };

// One complete client message as the decoder reports it.
struct FrontendMessage {
  char type = 0;         // message type byte; 0 for startup-phase packets
  std::string_view raw;  // the whole message as received (header included), for forwarding
  FrontendBody body;
};

// Parses a startup-phase packet (raw includes the Int32 length). Rejects unknown codes,
// protocol majors other than 3, and parameter lists that are not NUL-terminated pairs.
absl::StatusOr<FrontendBody> parseStartupPacket(std::string_view raw);

// Parses the payload (after type and length) of a typed client message. Rejects unknown
// types, payloads with missing or trailing bytes, and inconsistent counts, as the server would.
absl::StatusOr<FrontendBody> parseFrontendBody(char type, std::string_view payload,
                                               AuthResponseKind auth_kind);

// Human-readable name of a client message type byte ("Query", "Bind", ...), "unknown" if none.
std::string_view frontendTypeName(char type);

// True for the type bytes of protocol v3 client messages (a startup packet has none).
bool isFrontendMessageType(char type);

}  // namespace tollgate::sidecar::postgres
