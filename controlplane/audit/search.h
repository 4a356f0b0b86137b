// Audit search filters: validation of a SearchAuditRequest, page tokens, and the SQL they become.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "tollgate/v1/audit.pb.h"

namespace tollgate::controlplane::audit {

inline constexpr uint32_t kDefaultSearchLimit = 100;
inline constexpr uint32_t kMaxSearchLimit = 1000;

// What to find. Every set field must match (AND); empty / unset means "any". String filters
// are exact matches except `text`, a case-insensitive (ASCII) substring of the normalised
// statement or detail in which `%`, `_` and `\` are literal characters.
struct SearchFilter {
  std::string principal_id;
  std::string subject;
  std::string resource;
  std::string session_id;
  // Event time window in unix microseconds: from inclusive, to exclusive.
  std::optional<int64_t> from_us;
  std::optional<int64_t> to_us;
  v1::Decision decision = v1::DECISION_UNSPECIFIED;
  std::string rule_id;
  std::string text;
  std::vector<v1::EventType> types;
  // Page size, 1..kMaxSearchLimit (search only; export ignores it).
  uint32_t limit = kDefaultSearchLimit;
  // Keyset position: only records with a larger sequence are returned.
  uint64_t after_sequence = 0;
};

// Validates a request: limit 0 becomes the default, above the maximum is clamped to it; a bad
// page token, an invalid timestamp or an unknown enum value is InvalidArgument.
absl::StatusOr<SearchFilter> searchFilterFromProto(const v1::SearchAuditRequest& request);

// Opaque page tokens ("a1" followed by 16 lower-case hex digits of the last sequence returned).
// Callers must treat them as opaque; the format may change.
std::string encodePageToken(uint64_t last_sequence);
absl::StatusOr<uint64_t> decodePageToken(std::string_view token);

// `text` with `\`, `%` and `_` escaped by a backslash, for LIKE ... ESCAPE '\'.
std::string escapeLike(std::string_view text);

// The SQL spelling a WHERE clause is built for.
enum class SqlDialect {
  kSqlite,    // `?` placeholders, "1" for no filter, LIKE (ASCII case-insensitive in SQLite)
  kPostgres,  // `$1..$n` placeholders, "TRUE" for no filter, ILIKE (columns are COLLATE "C")
};

// A WHERE clause (without the keyword; "1" / "TRUE" when nothing filters) over the
// audit_records table, and its positional parameters in order, including the keyset condition.
struct SqlWhere {
  std::string clause;
  std::vector<std::variant<int64_t, std::string>> params;
};
SqlWhere buildWhere(const SearchFilter& filter, SqlDialect dialect = SqlDialect::kSqlite);

// Unix microseconds of a protobuf timestamp; InvalidArgument when out of range.
absl::StatusOr<int64_t> timestampMicros(const google::protobuf::Timestamp& ts);

}  // namespace tollgate::controlplane::audit
