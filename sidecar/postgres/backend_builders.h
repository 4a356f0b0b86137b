// Builders for the server messages the sidecar sends when it answers a client itself.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sidecar/postgres/backend_messages.h"

namespace tollgate::sidecar::postgres {

// Each returns one complete message (type byte and length included). String arguments are
// cut at any NUL, which a String field cannot hold.

std::string buildAuthenticationOk();
std::string buildAuthenticationCleartextPassword();
// `salt` must be 4 bytes.
std::string buildAuthenticationMd5Password(std::string_view salt);
std::string buildAuthenticationSasl(std::span<const std::string_view> mechanisms);
std::string buildAuthenticationSaslContinue(std::string_view data);
std::string buildAuthenticationSaslFinal(std::string_view data);
std::string buildParameterStatus(std::string_view name, std::string_view value);
// NegotiateProtocolVersion: the newest version of protocol 3 spoken (as PostgreSQL sends
// PG_PROTOCOL_LATEST: major << 16 | minor), and the protocol options (_pq_.*) of the client's
// startup packet that were not recognised.
std::string buildNegotiateProtocolVersion(uint16_t newest_minor,
                                          std::span<const std::string> unrecognised);
// `secret_key`: 4 bytes for protocol 3.0 clients.
std::string buildBackendKeyData(int32_t process_id, std::string_view secret_key);
// status: 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block.
std::string buildReadyForQuery(char status);
std::string buildCommandComplete(std::string_view tag);
std::string buildCopyData(std::string_view data);
std::string buildEmptyQueryResponse();
std::string buildRowDescription(std::span<const FieldDescription> fields);
// nullopt values are written as NULL (-1).
std::string buildDataRow(std::span<const std::optional<std::string_view>> values);

}  // namespace tollgate::sidecar::postgres
