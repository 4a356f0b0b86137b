// Builders for the client messages the sidecar sends upstream as the database client.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace tollgate::sidecar::postgres {

// Each returns one complete message or startup packet. String arguments are cut at any NUL.

using StartupParameter = std::pair<std::string_view, std::string_view>;

// StartupMessage for protocol 3.<minor_version> with the given parameters (e.g. user,
// database, application_name), in order.
std::string buildStartupMessage(std::span<const StartupParameter> parameters,
                                uint16_t minor_version = 0);
std::string buildSslRequest();
std::string buildGssEncRequest();
std::string buildCancelRequest(int32_t process_id, std::string_view secret_key);
std::string buildQuery(std::string_view sql);
// Parse of `query` into statement `name` ("" the unnamed one), no parameter types given.
std::string buildParse(std::string_view name, std::string_view query);
// Describe of portal `portal` ("" the unnamed one).
std::string buildDescribePortal(std::string_view portal);
std::string buildPasswordMessage(std::string_view password);
std::string buildSaslInitialResponse(std::string_view mechanism, std::string_view data);
std::string buildSaslResponse(std::string_view data);
std::string buildSync();
std::string buildTerminate();

}  // namespace tollgate::sidecar::postgres
