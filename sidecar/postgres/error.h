// ErrorResponse / NoticeResponse: building them to answer a client, and reading their fields.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "sidecar/postgres/backend_messages.h"

namespace tollgate::sidecar::postgres {

// SQLSTATEs the sidecar answers with.
inline constexpr std::string_view kSqlStateInsufficientPrivilege = "42501";
inline constexpr std::string_view kSqlStateProtocolViolation = "08P01";
inline constexpr std::string_view kSqlStateInvalidAuthorization = "28000";
inline constexpr std::string_view kSqlStateConnectionFailure = "08006";
// sqlserver_rejected_establishment_of_sqlconnection: the sidecar cannot serve the connection
// at all (its listener's resource is missing or of a protocol it does not speak). Not 28000:
// nothing is wrong with who the client is, and a retry will not help until the config changes.
inline constexpr std::string_view kSqlStateConnectionRejected = "08004";
inline constexpr std::string_view kSqlStateQueryCanceled = "57014";
inline constexpr std::string_view kSqlStateLockNotAvailable = "55P03";
inline constexpr std::string_view kSqlStateAdminShutdown = "57P01";
inline constexpr std::string_view kSqlStateFeatureNotSupported = "0A000";
inline constexpr std::string_view kSqlStateProgramLimitExceeded = "54000";

// The fields Tollgate writes and reads. Empty optional fields are omitted on the wire.
struct ErrorFields {
  std::string severity;  // S and V: "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", ...
  std::string code;      // C: SQLSTATE
  std::string message;   // M
  std::string detail;    // D (optional)
  std::string hint;      // H (optional)
  // R (optional): the server routine that raised it. Drivers key on some: asyncpg and pgjdbc
  // prepare a statement again on 0A000 from "RevalidateCachedQuery".
  std::string routine;
};

// 'E' message with fields S, V, C, M and, when set, D, H and R. Text is cut at any NUL.
std::string buildErrorResponse(const ErrorFields& fields);
// 'N' message with the same layout (severity usually "NOTICE" or "WARNING").
std::string buildNoticeResponse(const ErrorFields& fields);

// Reads the S (V preferred when present), C, M, D, H and R fields of a parsed 'E'/'N' body.
ErrorFields readErrorFields(const NoticeFields& fields);

// Parses a whole 'E' or 'N' message (header included) into its fields.
absl::StatusOr<ErrorFields> parseErrorMessage(std::string_view raw);

// An 'E' or 'N' message (`type`) with every field of `fields` kept, in order, each value passed
// through `fn(code, value)`, which returns its replacement or nullopt to keep it. Nullopt when
// nothing changed. A replacement is cut at its first NUL.
std::optional<std::string> rewriteNoticeFields(
    char type, const NoticeFields& fields,
    absl::FunctionRef<std::optional<std::string>(char code, std::string_view value)> fn);

// `message` without the values PostgreSQL writes into it: what it quotes (everything from the
// first double quote to the last) replaced by ***, `invalid input syntax for type integer:
// "***"`, and every digit elsewhere by *, since numbers are written unquoted (`date field value
// out of range: ***-**-**` for make_date(cvv::int, 13, 1)). Unchanged when it holds neither.
std::string withoutValues(std::string_view message);

}  // namespace tollgate::sidecar::postgres
