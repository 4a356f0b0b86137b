// Server-to-client PostgreSQL v3 messages: typed zero-copy views and their parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "sidecar/postgres/frontend_messages.h"
#include "sidecar/postgres/views.h"

namespace tollgate::sidecar::postgres {

// As for client messages, every view points into the bytes given to the parser.

enum class AuthCode : int32_t {
  kOk = 0,
  kKerberosV5 = 2,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kGss = 7,
  kGssContinue = 8,
  kSspi = 9,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

// A list of NUL-terminated strings ended by an empty string (SASL mechanism names).
class NameList {
 public:
  NameList() = default;
  explicit NameList(std::string_view raw) : raw_(raw) {}
  bool contains(std::string_view name) const;
  template <typename Fn>
  void forEach(Fn&& fn) const {
    WireReader r(raw_);
    while (r.ok() && !r.atEnd()) {
      std::string_view s = r.readCString();
      if (r.ok() && !s.empty()) fn(s);
    }
  }

 private:
  std::string_view raw_;
};

struct Authentication {  // 'R'
  AuthCode code = AuthCode::kOk;
  std::string_view salt;  // kMd5Password: 4 bytes
  NameList mechanisms;    // kSasl
  std::string_view data;  // kSaslContinue, kSaslFinal, kGssContinue
};
struct ParameterStatus {  // 'S'
  std::string_view name;
  std::string_view value;
};
struct BackendKeyData {  // 'K'
  int32_t process_id = 0;
  std::string_view secret_key;  // 4..256 bytes
};
struct ReadyForQuery {  // 'Z'
  char status = 'I';    // 'I' idle, 'T' in transaction, 'E' failed transaction
};

// One column of a RowDescription.
struct FieldDescription {
  std::string_view name;
  uint32_t table_oid = 0;
  int16_t column_attnum = 0;
  uint32_t type_oid = 0;
  int16_t type_size = 0;
  int32_t type_modifier = 0;
  int16_t format = 0;  // 0 text, 1 binary
};

struct RowDescription {  // 'T'
  uint16_t count = 0;
  std::string_view fields_raw;  // the count field descriptions, validated

  // Calls fn(index, const FieldDescription&) for each column in order.
  template <typename Fn>
  void forEachField(Fn&& fn) const {
    WireReader r(fields_raw);
    for (uint16_t i = 0; i < count; ++i) fn(i, readField(r));
  }
  // Reads one field description at r (fails r if truncated).
  static FieldDescription readField(WireReader& r);
};
// Bytes of a field description after its name: table oid, attnum, type oid, typlen, typmod,
// format.
inline constexpr size_t kFieldFixedSize = 4 + 2 + 4 + 2 + 4 + 2;

struct DataRow {  // 'D'
  ValueList columns;
};
struct CommandComplete {  // 'C'
  std::string_view tag;   // e.g. "SELECT 5", "INSERT 0 1"
};
struct EmptyQueryResponse {};  // 'I'

// ErrorResponse 'E' / NoticeResponse 'N' body: (Byte1 code, String value)* then a 0 byte.
struct NoticeFields {
  std::string_view raw;  // validated field list, final 0 excluded
  // The value of a field ('S', 'V', 'C', 'M', 'D', 'H', 'P', ...), if present.
  std::optional<std::string_view> get(char code) const;
  template <typename Fn>
  void forEach(Fn&& fn) const {
    WireReader r(raw);
    while (r.ok() && !r.atEnd()) {
      char code = static_cast<char>(r.readU8());
      std::string_view value = r.readCString();
      if (r.ok()) fn(code, value);
    }
  }
};
struct ErrorResponse {
  NoticeFields fields;
};
struct NoticeResponse {
  NoticeFields fields;
};
struct NotificationResponse {  // 'A'
  int32_t process_id = 0;
  std::string_view channel;
  std::string_view payload;
};
struct ParseComplete {};       // '1'
struct BindComplete {};        // '2'
struct CloseComplete {};       // '3'
struct NoData {};              // 'n'
struct PortalSuspended {};     // 's'
struct ParameterDescription {  // 't'
  OidArray types;
};
struct CopyResponse {  // 'G' CopyIn, 'H' CopyOut, 'W' CopyBoth
  char kind = 'G';
  int8_t format = 0;  // overall: 0 text, 1 binary
  Int16Array column_formats;
};
struct NegotiateProtocolVersion {  // 'v'
  int32_t newest_minor = 0;
  uint32_t option_count = 0;
  std::string_view options_raw;  // option_count NUL-terminated names
};
struct FunctionCallResponse {  // 'V'
  std::optional<std::string_view> value;
};
// Single-byte answer to SSLRequest ('S'/'N') or GSSENCRequest ('G'/'N'); no length field.
struct EncryptionResponse {
  char answer = 'N';
};

using BackendBody =
    std::variant<Authentication, ParameterStatus, BackendKeyData, ReadyForQuery, RowDescription,
                 DataRow, CommandComplete, EmptyQueryResponse, ErrorResponse, NoticeResponse,
                 NotificationResponse, ParseComplete, BindComplete, CloseComplete, NoData,
                 PortalSuspended, ParameterDescription, CopyResponse, CopyData, CopyDone,
                 NegotiateProtocolVersion, FunctionCallResponse, EncryptionResponse>;

struct BackendMessage {
  char type = 0;         // message type byte; 0 for EncryptionResponse
  std::string_view raw;  // the whole message as received, for forwarding
  BackendBody body;
};

// Parses the payload (after type and length) of a server message. Rejects unknown types,
// truncated or trailing bytes, and field values out of range.
absl::StatusOr<BackendBody> parseBackendBody(char type, std::string_view payload);

std::string_view backendTypeName(char type);

}  // namespace tollgate::sidecar::postgres
